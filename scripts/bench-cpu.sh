#!/usr/bin/env bash
# CPU throughput of odenet (Burn, flex backend) against PyTorch on the same models and protocol.
# Prints Markdown tables; raw JSON lines go to target/bench/cpu.jsonl.
#
#   scripts/bench-cpu.sh                       # resnet20 + lm-resnet20, batch 128, warm-up 2, 5 steps
#   MODELS="resnet56 lm-resnet56" STEPS=10 scripts/bench-cpu.sh
#   COMPILE=0 scripts/bench-cpu.sh             # skip torch.compile (its first step takes ~1 min)
#   SINGLE=0 scripts/bench-cpu.sh              # skip the 1-thread comparison
#   TUNED=0 scripts/bench-cpu.sh               # skip odenet with glibc malloc tuned
#   FEATURES=wgpu scripts/bench-cpu.sh         # build with these cargo features (reuses the test build)
#
# Both frameworks use all cores (rayon pool / torch.set_num_threads(nproc)); the 1-thread runs
# (RAYON_NUM_THREADS=1, --threads 1) compare per-core speed and are less disturbed by other load.
# odenet runs with its default --kernels fast (oneDNN convolutions) and, for comparison, with
# --kernels flex (Burn's own convolutions: the speed before issue 8).
# "odenet, malloc tuned" runs the same binary with glibc's mmap/trim thresholds raised, so the large
# activation buffers are reused instead of being mmap'd, page-faulted and unmapped every step.
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=${MODELS:-"resnet20 lm-resnet20"}
BATCH=${BATCH:-128}
WARMUP=${WARMUP:-2}
STEPS=${STEPS:-5}
COMPILE=${COMPILE:-1}
SINGLE=${SINGLE:-1}
TUNED=${TUNED:-0}
FLEX=${FLEX:-1}
REPS=${REPS:-1}
MALLOC_TUNED="glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295"
PYTHON=${PYTHON:-python3}
CORES=$(nproc)
OUT=target/bench
mkdir -p "$OUT"
RAW="$OUT/cpu.jsonl"
: > "$RAW"

cargo build --release --quiet ${FEATURES:+--features "$FEATURES"}
BIN=target/release/odenet
COMMON=(--batch-size "$BATCH" --warmup "$WARMUP" --steps "$STEPS" --device cpu)

echo "machine: $CORES cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)" >&2
echo "load before: $(uptime)" >&2
start=$(date +%s)
# Every JSON line is tagged with its repetition.
emit() { sed "s/^{/{\"rep\":$rep,/" >> "$RAW"; }
for rep in $(seq "$REPS"); do
  for m in $MODELS; do
    echo "odenet $m ($CORES threads) ..." >&2
    # (user + sys) / wall of the whole process = cores kept busy.
    /usr/bin/time -f '{"model":"'"$m"'","wall":%e,"user":%U,"sys":%S}' -o "$OUT/time-$m-$rep.json" \
      "$BIN" bench --model "$m" "${COMMON[@]}" --mode both --json | emit
    if [ "$TUNED" = 1 ]; then
      GLIBC_TUNABLES=$MALLOC_TUNED "$BIN" bench --model "$m" "${COMMON[@]}" --mode both --json \
        | sed 's/^{/{"variant":"malloc-tuned",/' | emit
    fi
    if [ "$FLEX" = 1 ]; then
      "$BIN" bench --model "$m" "${COMMON[@]}" --mode both --json --kernels flex \
        | sed 's/^{/{"variant":"flex",/' | emit
    fi
    echo "pytorch eager $m ($CORES threads) ..." >&2
    "$PYTHON" bench/torch_reference.py --model "$m" "${COMMON[@]}" --mode both --variants eager \
      --threads "$CORES" | emit
    if [ "$COMPILE" = 1 ]; then
      echo "pytorch compile $m (train) ..." >&2
      "$PYTHON" bench/torch_reference.py --model "$m" "${COMMON[@]}" --mode train --variants compile \
        --threads "$CORES" | emit
    fi
    if [ "$SINGLE" = 1 ] && [ "$CORES" != 1 ]; then
      echo "odenet + pytorch eager $m (1 thread) ..." >&2
      RAYON_NUM_THREADS=1 "$BIN" bench --model "$m" "${COMMON[@]}" --mode both --json | emit
      if [ "$TUNED" = 1 ]; then
        RAYON_NUM_THREADS=1 GLIBC_TUNABLES=$MALLOC_TUNED "$BIN" bench --model "$m" "${COMMON[@]}" \
          --mode both --json | sed 's/^{/{"variant":"malloc-tuned",/' | emit
      fi
      if [ "$FLEX" = 1 ]; then
        RAYON_NUM_THREADS=1 "$BIN" bench --model "$m" "${COMMON[@]}" --mode both --json \
          --kernels flex | sed 's/^{/{"variant":"flex",/' | emit
      fi
      "$PYTHON" bench/torch_reference.py --model "$m" "${COMMON[@]}" --mode both --variants eager \
        --threads 1 | emit
    fi
  done
done
echo "load after: $(uptime); $(( $(date +%s) - start )) s" >&2

"$PYTHON" - "$RAW" "$OUT" "$CORES" $MODELS <<'PY'
import json, sys
from pathlib import Path
raw, out, cores, models = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = [json.loads(l) for l in open(raw) if l.strip()]

reps = sorted({r.get("rep", 1) for r in rows})
rep = reps[0]

def get(model, mode, framework, threads, variant=None):
    for r in rows:
        if (r["model"], r["mode"], r["framework"], r["threads"]) == (model, mode, framework, threads) \
                and r.get("variant") == variant and "error" not in r and r.get("rep", 1) == rep:
            return r
    return None

def rss(r):
    return f"{r['peak_rss_bytes'] / 2**20:.0f}" if r and r.get("peak_rss_bytes") else "—"

def ips(r):
    """Mean images/s over the timed steps, and in brackets batch / fastest step (less sensitive
    to other processes on the machine)."""
    if not r:
        return "—"
    return f"{r['images_per_sec']:.1f} ({1e3 * r['batch_size'] / r['ms_per_step_min']:.1f})"

def overhead(lm, base):
    return f"{100 * (lm['ms_per_step'] / base['ms_per_step'] - 1):+.1f} %" if lm and base else ""

def table(threads, with_compile):
    tuned = any(r.get("variant") == "malloc-tuned" and r["threads"] == threads for r in rows)
    flex = any(r.get("variant") == "flex" and r["threads"] == threads for r in rows)
    extra = (" odenet --kernels flex img/s | fast / flex |" if flex else "") + \
        (" odenet, malloc tuned img/s |" if tuned else "") + \
        (" PyTorch compile img/s |" if with_compile else "")
    print(f"| model | mode | odenet img/s | PyTorch eager img/s | odenet / eager |{extra} "
          "odenet LM overhead | PyTorch LM overhead | peak RSS MiB odenet / PyTorch |")
    print("|---|---|---:|---:|---:|" + "---:|" * (2 * flex + tuned + with_compile) + "---:|---:|---:|")
    for mode in ("train", "infer"):
        for m in models:
            o = get(m, mode, "odenet-burn", threads)
            e = get(m, mode, "pytorch", threads, "eager")
            ratio = f"{o['images_per_sec'] / e['images_per_sec']:.2f}" if o and e else "—"
            base = m[3:] if m.startswith("lm-") and m[3:] in models else None
            lo = overhead(o, get(base, mode, "odenet-burn", threads)) if base else ""
            le = overhead(e, get(base, mode, "pytorch", threads, "eager")) if base else ""
            c = ""
            if flex:
                f = get(m, mode, "odenet-burn", threads, "flex")
                speedup = f"{o['images_per_sec'] / f['images_per_sec']:.2f}" if o and f else "—"
                c += f" {ips(f)} | {speedup} |"
            if tuned:
                c += " " + ips(get(m, mode, "odenet-burn", threads, "malloc-tuned")) + " |"
            if with_compile:
                c += " " + (ips(get(m, mode, "pytorch", threads, "compile")) if mode == "train" else "n/a") + " |"
            mem = f"{rss(o)} / {rss(e)}" if mode == "train" else ""
            print(f"| {m} | {mode} | {ips(o)} | {ips(e)} | {ratio} |{c} {lo} | {le} | {mem} |")

print("img/s: mean over the timed steps (in brackets: batch / fastest step); ratio and LM overhead "
      "from the means.\n")
for rep in reps:
    if len(reps) > 1:
        print(f"Repetition {rep}:\n")
    print(f"All {cores} cores:\n")
    table(cores, True)
    if any(r["threads"] == 1 for r in rows) and cores != 1:
        print("\n1 thread:\n")
        table(1, False)
    print()
for r in rows:
    if "error" in r:
        print(f"\n{r['model']} {r.get('variant')} {r['mode']}: {r['error'][:300]}")
print()
for m, rep in ((m, rep) for rep in reps for m in models):
    p = out / f"time-{m}-{rep}.json"
    if p.exists():
        t = json.loads(p.read_text())
        print(f"odenet {m} ({cores} threads, both modes, repetition {rep}): (user + sys) / wall = "
              f"{(t['user'] + t['sys']) / t['wall']:.2f} cores, sys {t['sys']:.1f} s of "
              f"{t['user'] + t['sys']:.1f} s CPU")
firsts = [f"{r['framework']}/{r.get('variant', '-')}/{r['model']}/{r['mode']}/{r['threads']}t: {r['first_step_s']:.2f} s"
          for r in rows if "error" not in r and r["mode"] == "train"]
print("first train step (timed alone): " + "; ".join(firsts))
r = next((r for r in rows if r["framework"] == "pytorch" and "error" not in r), None)
if r:
    print(f"torch {r['torch']}; protocol: first step + {r['warmup']} warm-up + {r['steps']} timed steps, "
          f"batch {r['batch_size']}, {r['image_size']}x{r['image_size']} synthetic images")
PY
