#!/usr/bin/env bash
# One prepared GPU check for odenet (CUDA build), for a machine with an NVIDIA GPU, the CUDA 13
# driver, PyTorch and no network. Made by scripts/build-gpu-carry.sh, which puts into .gpu-carry/:
#   odenet.xz              release binary built with `--features cuda` (stripped, xz)
#   cifar10-jpeg.tar.gz    CIFAR-10 as JPEG class folders (train/, test/)
# Run from the repository root:  bash scripts/gpu-check.sh      (logs and results go to $OUT)
#
# Stages, each under its own `timeout` so one hang cannot eat the budget (whole run < 8 min):
#   0. environment (nvidia-smi, torch), unpack the binary with Python's lzma, find libcuda, NVRTC
#      and the CUDA headers (CUDA_PATH); `odenet` writes step lines from the first step on
#      (ODENET_STEP_LOG) into $OUT/*.log
#   1. PyTorch reference, eager fp32, resnet20 lm-resnet20 resnet56 lm-resnet56, batch 128
#   2. odenet bench, same models and protocol (warm-up 10, 50 timed steps, train mode)
#   3. CIFAR-10 training: lm-resnet20, 5 epochs, cosine, lr 0.1; test accuracy must exceed 70%
#   4. PyTorch torch.compile for the 20-layer nets, if time is left; bf16 mixed precision for
#      lm-resnet56 (odenet --precision bf16 against torch.autocast bf16 + channels_last); lm-resnet56
#      inference with and without CUDA-graph replay (odenet bench --mode infer --graph); lm-resnet56
#      with Burn's own LM step (--kernels flex) against odenet's fused LM kernel (the default)
#   5. one comparison table: $OUT/summary.md (also printed)
# Knobs (environment): GPU_CHECK_AUTOTUNE (CubeCL autotune level: minimal [default], balanced,
# extensive, full), GPU_CHECK_BUDGET_S (default 465), GPU_CHECK_SKIP (space-separated stage names:
# torch bench train compile bf16 graph fused).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$REPO/gpu-out}"
mkdir -p "$OUT"
CARRY="$REPO/.gpu-carry"
T0=$(date +%s)
BUDGET="${GPU_CHECK_BUDGET_S:-465}"
SKIP=" ${GPU_CHECK_SKIP:-} "
MODELS="resnet20 lm-resnet20 resnet56 lm-resnet56"
# odenet's fused LM kernel (--kernels fast) has never run on a GPU: if the first bench fails with
# it (an error, not a timeout), every later odenet stage switches to Burn's LM step (flex).
KERNELS=fast
BENCH_ARGS=(--batch-size 128 --device cuda --warmup 10 --steps 50 --mode train --json)
TORCH_ARGS=(--batch-size 128 --device cuda --warmup 10 --steps 50 --mode train)  # JSON lines by default

exec > >(tee -a "$OUT/gpu-check.log") 2>&1
now() { echo $(( $(date +%s) - T0 )); }
log() { echo "[gpu-check $(printf '%3d' "$(now)")s] $*"; }
# Seconds a stage may take: at most $1, leaving $2 for the stages after it; 0 = skip.
stage_timeout() {
  local max=$1 reserve=$2 left=$(( BUDGET - $(now) - $2 ))
  (( left > max )) && left=$max
  (( left < 20 )) && left=0
  echo "$left"
}
skipped() { [[ "$SKIP" == *" $1 "* ]]; }

log "repo $REPO, out $OUT, budget ${BUDGET}s"
{
  date -u; uname -a
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1
} > "$OUT/env.txt" 2>&1
grep -E "torch|NVIDIA-SMI|H100|H200" "$OUT/env.txt" | head -5

# ---- 0. binary and libraries -------------------------------------------------------------
WORK="$(mktemp -d /tmp/odenet-gpu.XXXXXX)"
BIN="$WORK/odenet"
if [[ -f "$CARRY/odenet.xz" ]]; then
  python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as f, open(sys.argv[2], "wb") as g: shutil.copyfileobj(f, g, 1 << 20)' \
    "$CARRY/odenet.xz" "$BIN" || { log "FAIL: cannot unpack $CARRY/odenet.xz"; exit 2; }
elif [[ -f "$CARRY/odenet" ]]; then
  cp "$CARRY/odenet" "$BIN"
else
  log "FAIL: no $CARRY/odenet.xz (run scripts/build-gpu-carry.sh on the build machine)"; exit 2
fi
chmod +x "$BIN"
log "binary: $(du -h "$BIN" | cut -f1)"

# The driver's libcuda.
LIBDIRS=()
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
  if compgen -G "$d/libcuda.so*" > /dev/null; then LIBDIRS+=("$d"); break; fi
done
(( ${#LIBDIRS[@]} )) || log "WARNING: no libcuda.so* found in the usual places (ldconfig: $(ldconfig -p 2>/dev/null | grep -c libcuda.so) entries)"

# NVRTC (libnvrtc.so.13, with its libnvrtc-builtins next to it): toolkit first, then PyTorch's wheels.
PY_NVIDIA="$(python3 - <<'EOF' 2>/dev/null
import importlib.util, os
spec = importlib.util.find_spec("nvidia")
for p in (list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []):
    print(p)
EOF
)"
NVRTC=""
for c in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib \
         /usr/local/cuda/targets/x86_64-linux/lib; do
  if compgen -G "$c/libnvrtc.so.13*" > /dev/null; then NVRTC="$c"; break; fi
done
if [[ -z "$NVRTC" && -n "$PY_NVIDIA" ]]; then
  f=$(find $PY_NVIDIA -name 'libnvrtc.so.13*' 2>/dev/null | grep -v builtins | head -1)
  [[ -n "$f" ]] && NVRTC="$(dirname "$f")"
fi
if [[ -z "$NVRTC" ]]; then
  f=$(find / -xdev -name 'libnvrtc.so*' 2>/dev/null | grep -v builtins | head -1)
  [[ -n "$f" ]] && NVRTC="$(dirname "$f")"
fi
[[ -n "$NVRTC" ]] && LIBDIRS+=("$NVRTC") || log "WARNING: NVRTC (libnvrtc.so.13) not found"

# CUDA headers for NVRTC (cuda_fp16.h, ... and include/cccl), through CUDA_PATH.
if [[ -z "${CUDA_PATH:-}" || ! -f "${CUDA_PATH:-/x}/include/cuda_fp16.h" ]]; then
  CUDA_PATH=""
  for c in /usr/local/cuda /usr/local/cuda-13.0 /usr/local/cuda-13* /opt/cuda; do
    if [[ -f "$c/include/cuda_fp16.h" ]]; then CUDA_PATH="$c"; break; fi
  done
  if [[ -z "$CUDA_PATH" && -n "$PY_NVIDIA" ]]; then
    f=$(find $PY_NVIDIA -path '*include/cuda_fp16.h' 2>/dev/null | head -1)
    [[ -n "$f" ]] && CUDA_PATH="$(dirname "$(dirname "$f")")"
  fi
fi
export CUDA_PATH
[[ -n "$CUDA_PATH" ]] || log "WARNING: no CUDA headers found (CUDA_PATH); NVRTC compiles may fail"
[[ -d "$CUDA_PATH/include/cccl" ]] || log "note: $CUDA_PATH/include/cccl absent"
# Only for odenet: PyTorch must keep loading its own CUDA wheels (LD_LIBRARY_PATH beats RUNPATH).
ODENET_LD="$(IFS=:; echo "${LIBDIRS[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "odenet LD_LIBRARY_PATH=$ODENET_LD CUDA_PATH=$CUDA_PATH"
ls -l "$NVRTC"/libnvrtc* >> "$OUT/env.txt" 2>&1

# CubeCL reads cubecl.toml from the working directory (or burn.toml's [cubecl] section) and env
# vars: CUBECL_AUTOTUNE_LEVEL=minimal|balanced|extensive|full; compilation and autotune logs go to
# files here. No on-disk kernel or autotune cache in this build (cubecl `persistence` is off), so
# every process compiles and tunes again.
export CUBECL_AUTOTUNE_LEVEL="${GPU_CHECK_AUTOTUNE:-minimal}"
cat > "$WORK/cubecl.toml" <<EOF
[compilation.logger]
level = "basic"
file = "$OUT/cubecl-compilation.log"
[autotune.logger]
level = "minimal"
file = "$OUT/cubecl-autotune.log"
EOF
cd "$WORK"
export ODENET_STEP_LOG=1 RUST_BACKTRACE=1
log "CUBECL_AUTOTUNE_LEVEL=$CUBECL_AUTOTUNE_LEVEL"

# ---- 1. PyTorch eager reference ------------------------------------------------------------
if ! skipped torch; then
  t=$(stage_timeout 70 330)
  if (( t > 0 )); then
    log "torch eager, all models (timeout ${t}s)"
    timeout -k 5 "$t" python3 "$REPO/bench/torch_reference.py" --model "${MODELS// /,}" \
      "${TORCH_ARGS[@]}" --variants eager > "$OUT/bench-torch-eager.jsonl" 2> "$OUT/bench-torch-eager.log"
    log "torch eager rc=$? ($(grep -c images_per_sec "$OUT/bench-torch-eager.jsonl") rows)"
  fi
fi

# ---- 2. odenet bench ---------------------------------------------------------------------
if ! skipped bench; then
  attempt=0
  for m in lm-resnet56 lm-resnet56 resnet56 lm-resnet20 resnet20; do  # the target pair first
    attempt=$(( attempt + 1 ))
    # The second lm-resnet56 is the retry with --kernels flex, run only if the first failed.
    (( attempt == 2 )) && [[ $KERNELS == fast ]] && continue
    # The first process (and the retry) pays for NVRTC start-up, so it gets longer.
    if (( attempt <= 2 )); then t=$(stage_timeout 100 230); else t=$(stage_timeout 60 230); fi
    (( t > 0 )) || { log "odenet bench $m: skipped (no time left)"; continue; }
    log "odenet bench $m --kernels $KERNELS (timeout ${t}s)"
    timeout -k 5 "$t" env LD_LIBRARY_PATH="$ODENET_LD" "$BIN" bench --model "$m" "${BENCH_ARGS[@]}" --kernels "$KERNELS" > "$OUT/bench-odenet-$m.json" 2> "$OUT/bench-odenet-$m.log"
    rc=$?
    grep -E "first step [0-9]|step 50/50" "$OUT/bench-odenet-$m.log" | sed 's/^/    /'
    if ! grep -qE "first step [0-9]" "$OUT/bench-odenet-$m.log" && (( rc != 124 && rc != 137 )) && [[ $KERNELS == fast ]]; then
      log "odenet bench $m failed with the fused LM kernel (rc=$rc); last lines:"
      tail -n 8 "$OUT/bench-odenet-$m.log" | sed 's/^/    /'
      cp "$OUT/bench-odenet-$m.log" "$OUT/bench-odenet-$m-fused-failed.log"
      log "FUSED LM KERNEL FAILED: every later odenet stage runs with --kernels flex"
      KERNELS=flex
      continue
    fi
    if ! grep -qE "first step [0-9]" "$OUT/bench-odenet-$m.log"; then
      log "odenet bench $m never finished its first step (rc=$rc); last lines:"
      tail -n 8 "$OUT/bench-odenet-$m.log" | sed 's/^/    /'
      log "skipping the other benches: the training stage gets the time (its log shows the first step)"
      break
    fi
    if (( rc != 0 )); then
      log "odenet bench $m rc=$rc$( ((rc == 124)) && echo ' (TIMEOUT)'); last lines:"
      tail -n 5 "$OUT/bench-odenet-$m.log" | sed 's/^/    /'
    fi
  done
fi

# ---- 3. CIFAR-10 training ----------------------------------------------------------------
if ! skipped train; then
  t=$(stage_timeout 260 15)
  if (( t > 0 )); then
    DATA="$CARRY/cifar10-jpeg.tar.gz"
    log "extracting $DATA"
    mkdir -p "$WORK/cifar" && tar xzf "$DATA" -C "$WORK/cifar" || log "WARNING: extraction failed"
    [[ -d "$WORK/cifar/train" ]] && DATA="$WORK/cifar"
    t=$(stage_timeout 260 15)
    log "odenet train lm-resnet20 5 epochs on $DATA (timeout ${t}s)"
    ODENET_STEP_LOG=50 timeout -k 5 "$t" env LD_LIBRARY_PATH="$ODENET_LD" "$BIN" train --model lm-resnet20 --data folder --data-dir "$DATA" \
      --epochs 5 --device cuda --batch-size 128 --schedule cosine --lr 0.1 --kernels "$KERNELS" --quiet --out "$OUT/run" \
      > "$OUT/train.log" 2>&1
    rc=$?
    grep -E "first step|done in" "$OUT/train.log" | sed 's/^/    /'
    (( rc != 0 )) && { log "odenet train rc=$rc$( ((rc == 124)) && echo ' (TIMEOUT)'); last lines:"; tail -n 5 "$OUT/train.log" | sed 's/^/    /'; }
  else
    log "train: skipped (no time left)"
  fi
fi

# ---- 4. torch.compile (20-layer nets), if time is left ------------------------------------
if ! skipped compile; then
  t=$(stage_timeout 120 10)
  if (( t > 0 )); then
    log "torch compile resnet20,lm-resnet20 (timeout ${t}s)"
    timeout -k 5 "$t" python3 "$REPO/bench/torch_reference.py" --model resnet20,lm-resnet20 \
      "${TORCH_ARGS[@]}" --variants compile > "$OUT/bench-torch-compile.jsonl" 2> "$OUT/bench-torch-compile.log"
    log "torch compile rc=$?"
  fi
fi

# ---- 4b. bf16 mixed precision (lm-resnet56), if time is left ---------------------------------
if ! skipped bf16; then
  t=$(stage_timeout 90 8)
  if (( t > 0 )); then
    log "bf16: odenet and torch autocast, lm-resnet56 (timeout ${t}s each half)"
    timeout -k 5 $(( t / 2 )) env LD_LIBRARY_PATH="$ODENET_LD" "$BIN" bench --model lm-resnet56 "${BENCH_ARGS[@]}" \
      --precision bf16 --kernels "$KERNELS" > "$OUT/bench-odenet-bf16.json" 2> "$OUT/bench-odenet-bf16.log"
    log "odenet bf16 rc=$?"
    timeout -k 5 $(( t / 2 )) python3 "$REPO/bench/torch_reference.py" --model lm-resnet56 \
      "${TORCH_ARGS[@]}" --variants bf16 > "$OUT/bench-torch-bf16.jsonl" 2> "$OUT/bench-torch-bf16.log"
    log "torch bf16 rc=$?"
  fi
fi

# ---- 4c. CUDA-graph replay of inference (lm-resnet56), if time is left -------------------------
if ! skipped graph; then
  for g in "" --graph; do
    t=$(stage_timeout 45 5)
    (( t > 0 )) || { log "inference ${g:-plain}: skipped (no time left)"; continue; }
    log "odenet inference ${g:-without --graph}, lm-resnet56 (timeout ${t}s)"
    timeout -k 5 "$t" env LD_LIBRARY_PATH="$ODENET_LD" "$BIN" bench --model lm-resnet56 --batch-size 128 \
      --device cuda --warmup 10 --steps 50 --mode infer --kernels "$KERNELS" --json $g > "$OUT/bench-odenet-infer${g/--/-}.json" \
      2> "$OUT/bench-odenet-infer${g/--/-}.log"
    log "rc=$?"
  done
fi

# ---- 4d. odenet's fused LM kernel off (lm-resnet56 with Burn's three operations), if time is left --
if ! skipped fused && [[ $KERNELS == fast ]]; then
  t=$(stage_timeout 45 3)
  if (( t > 0 )); then
    log "odenet lm-resnet56 with --kernels flex: Burn's own LM step (timeout ${t}s)"
    timeout -k 5 "$t" env LD_LIBRARY_PATH="$ODENET_LD" "$BIN" bench --model lm-resnet56 "${BENCH_ARGS[@]}" \
      --kernels flex > "$OUT/bench-odenet-burn-lm.json" 2> "$OUT/bench-odenet-burn-lm.log"
    log "rc=$?"
  else
    log "fused: skipped (no time left)"
  fi
fi

# ---- 5. table ----------------------------------------------------------------------------
python3 - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import glob, json, os, sys
out = sys.argv[1]
rows = {}
def read(path):
    try:
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                yield json.loads(line)
    except OSError:
        return
for p in glob.glob(os.path.join(out, "bench-*.json*")):
    for r in read(p):
        key = "odenet" if r.get("framework", "").startswith("odenet") else "torch-" + r.get("variant", "?")
        if key == "odenet" and r.get("precision", "f32") != "f32":
            key = "odenet-" + r["precision"]
        if os.path.basename(p).startswith("bench-odenet-burn-lm"):
            key = "odenet-burn-lm"
        if key == "odenet" and r.get("mode") == "infer":
            key = "odenet-infer-graph" if r.get("graph") else "odenet-infer"
        rows[(r["model"], key)] = r
models = ["resnet20", "lm-resnet20", "resnet56", "lm-resnet56"]
def ips(m, k):
    r = rows.get((m, k))
    return r.get("images_per_sec") if r and "error" not in r else None
def f(x, fmt="{:,.0f}"):
    return fmt.format(x) if x is not None else "–"
print("## odenet (Burn CUDA) vs PyTorch, training images/s, batch 128, same card\n")
print("| model | odenet | first step s | torch eager fp32 | torch compile | odenet / eager |")
print("|---|---|---|---|---|---|")
for m in models:
    o, e, c = ips(m, "odenet"), ips(m, "torch-eager"), ips(m, "torch-compile")
    fs = rows.get((m, "odenet"), {}).get("first_step_s")
    print(f"| {m} | {f(o)} | {f(fs, '{:.1f}')} | {f(e)} | {f(c)} | {f(o / e if o and e else None, '{:.2f}×')} |")
print()
for depth in ("20", "56"):
    for k, name in (("odenet", "odenet"), ("torch-eager", "torch eager")):
        a, b = ips(f"resnet{depth}", k), ips(f"lm-resnet{depth}", k)
        if a and b:
            print(f"- LM step overhead, {name}, depth {depth}: {100 * (a / b - 1):+.1f}% time per step vs ResNet (target ≤ 5% for odenet)")
o16, t16 = ips("lm-resnet56", "odenet-bf16"), ips("lm-resnet56", "torch-bf16")
if o16 or t16:
    ratio = f"{o16 / t16:.2f}×" if o16 and t16 else "–"
    print(f"- bf16 mixed precision, lm-resnet56: odenet {f(o16)} img/s, torch autocast bf16 + channels_last {f(t16)} img/s ({ratio})")
gi, gp = ips("lm-resnet56", "odenet-infer-graph"), ips("lm-resnet56", "odenet-infer")
if gi or gp:
    hw = rows.get(("lm-resnet56", "odenet-infer-graph"), {}).get("graph_hardware")
    ratio = f"{gi / gp:.2f}×" if gi and gp else "–"
    print(f"- inference lm-resnet56: {f(gp)} img/s plain, {f(gi)} img/s replaying a captured graph (hardware graph: {hw}; {ratio})")
fl, bl = ips("lm-resnet56", "odenet"), ips("lm-resnet56", "odenet-burn-lm")
if bl:
    ratio = f"{fl / bl:.2f}×" if fl and bl else "–"
    print(f"- fused LM kernel, lm-resnet56 training: {f(fl)} img/s with it (--kernels fast), {f(bl)} img/s with Burn's LM step (--kernels flex): {ratio}")
if any(r.get("kernels") == "burn" for (m, k), r in rows.items() if k == "odenet"):
    print("- the odenet rows ran with Burn's LM step (--kernels flex): the fused LM kernel failed, see bench-odenet-*-fused-failed.log")
errs = [f"{m} {k}: {r['error'][:200]}" for (m, k), r in rows.items() if "error" in r]
for e in errs:
    print(f"- error: {e}")
target = ips("lm-resnet56", "odenet"), ips("lm-resnet56", "torch-eager")
if all(target):
    ok = target[0] >= target[1]
    print(f"- target LM-ResNet-56 ≥ 1.0× torch eager fp32: {target[0] / target[1]:.2f}× {'PASS' if ok else 'FAIL'}")
print("\n## CIFAR-10 training, lm-resnet20, 5 epochs, batch 128, cosine lr 0.1\n")
metrics = list(read(os.path.join(out, "run", "metrics.jsonl")))
if metrics:
    print("| epoch | train acc | test acc | images/s | data-wait fraction | train s |")
    print("|---|---|---|---|---|---|")
    for r in metrics:
        print(f"| {r['epoch']} | {100 * r['train_acc']:.1f}% | {100 * r['test_acc']:.2f}% | {r['images_per_sec']:,.0f} | {r['data_wait_fraction']:.3f} | {r['train_seconds']:.1f} |")
    last = metrics[-1]
    ok = len(metrics) >= 5 and last["test_acc"] > 0.70
    print(f"\n- final test accuracy {100 * last['test_acc']:.2f}% after {len(metrics)} epochs: {'PASS' if ok else 'FAIL'} (needs > 70% after 5)")
else:
    print("- no metrics.jsonl: training did not finish an epoch (see train.log)")
EOF
log "done in $(now)s; logs in $OUT"
