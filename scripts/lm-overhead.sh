#!/usr/bin/env bash
# LM step overhead on the CPU: time per training step of lm-resnetN over resnetN, minus 1.
#
#   scripts/lm-overhead.sh                    # depths 20 and 56, 1 and all threads, 6 pairs each
#   DEPTHS=56 PAIRS=10 scripts/lm-overhead.sh
#   TORCH=1 scripts/lm-overhead.sh            # PyTorch eager's overhead measured the same way
#
# One bench of a model on a shared VM varies by ±15 % from one run to the next, more than the
# effect (a few per cent), so single pairs disagree in sign. Here the two models of a pair run
# back to back, the pair order alternates, and the estimate is the median over pairs of each pair's
# ratio of step times (mean and fastest step), with the spread of the pair ratios beside it.
# Raw JSON lines: target/bench/lm-overhead.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPTHS=${DEPTHS:-"20 56"}
PAIRS=${PAIRS:-6}
STEPS=${STEPS:-6}
WARMUP=${WARMUP:-2}
BATCH=${BATCH:-128}
TORCH=${TORCH:-0}
PYTHON=${PYTHON:-python3}
CORES=$(nproc)
THREADS=${THREADS:-"$CORES 1"}
OUT=target/bench
mkdir -p "$OUT"
RAW="$OUT/lm-overhead.jsonl"
: > "$RAW"

cargo build --release --quiet ${FEATURES:+--features "$FEATURES"}
BIN=target/release/odenet
COMMON=(--batch-size "$BATCH" --warmup "$WARMUP" --steps "$STEPS" --device cpu --mode train)

echo "machine: $CORES cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)" >&2
echo "load before: $(uptime)" >&2
tag() { sed "s/^{/{\"pair\":$1,\"nthreads\":$2,\"fw\":\"$3\",/" >> "$RAW"; }
one() {  # framework model threads pair
  case $1 in
    odenet) RAYON_NUM_THREADS=$3 "$BIN" bench --model "$2" "${COMMON[@]}" --json | tag "$4" "$3" odenet ;;
    torch) "$PYTHON" bench/torch_reference.py --model "$2" "${COMMON[@]}" --variants eager \
             --threads "$3" | tag "$4" "$3" torch ;;
  esac
}
FRAMEWORKS=odenet
[ "$TORCH" = 1 ] && FRAMEWORKS="odenet torch"
for pair in $(seq "$PAIRS"); do
  for depth in $DEPTHS; do
    for t in $THREADS; do
      for fw in $FRAMEWORKS; do
        echo "pair $pair: $fw depth $depth, $t thread(s)" >&2
        if (( pair % 2 )); then
          one "$fw" "resnet$depth" "$t" "$pair"; one "$fw" "lm-resnet$depth" "$t" "$pair"
        else
          one "$fw" "lm-resnet$depth" "$t" "$pair"; one "$fw" "resnet$depth" "$t" "$pair"
        fi
      done
    done
  done
done
echo "load after: $(uptime)" >&2

"$PYTHON" - "$RAW" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def step(r, key):
    return r[key] if key in r else None
groups = {}
for r in rows:
    depth = r["model"].removeprefix("lm-").removeprefix("resnet")
    lm = r["model"].startswith("lm-")
    groups.setdefault((r["fw"], depth, r["nthreads"]), {}).setdefault(r["pair"], {})[lm] = r
print("| framework | depth | threads | pairs | LM overhead, mean step (median of pairs) | pair range | LM overhead, fastest step (median of pairs) | pair range |")
print("|---|---:|---:|---:|---:|---|---:|---|")
for (fw, depth, t), pairs in sorted(groups.items()):
    full = [p for p in pairs.values() if True in p and False in p]
    def ratios(key):
        return sorted(100 * (p[True][key] / p[False][key] - 1) for p in full if key in p[True])
    mean, fast = ratios("ms_per_step"), ratios("ms_per_step_min")
    def cell(v):
        return (f"{statistics.median(v):+.1f} %", f"{v[0]:+.1f} … {v[-1]:+.1f} %") if v else ("–", "–")
    m, f = cell(mean), cell(fast)
    print(f"| {fw} | {depth} | {t} | {len(full)} | {m[0]} | {m[1]} | {f[0]} | {f[1]} |")
EOF
