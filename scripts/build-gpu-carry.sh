#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh needs on the GPU machine (which has no Rust and no network):
#   .gpu-carry/odenet.xz             release binary with `--features cuda`, stripped, xz -9
#   .gpu-carry/cifar10-jpeg.tar.gz   CIFAR-10 JPEG tarball (from ../shared/data or $CIFAR_TARBALL)
# The build downloads nothing at build time: cubecl-llvm is replaced by vendor/cubecl-llvm-stub and
# kernels are compiled at run time by NVRTC (see docs/gpu-plan.md). .gpu-carry is git-ignored.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
CIFAR="${CIFAR_TARBALL:-$REPO/../shared/data/cifar10-jpeg.tar.gz}"
[[ -f "$CIFAR" ]] || CIFAR=/work/shared/data/cifar10-jpeg.tar.gz

CARGO_TARGET_DIR="$TARGET" nice -n 19 cargo build --release --features cuda
BIN="$TARGET/release/odenet"
mkdir -p .gpu-carry
strip -o .gpu-carry/odenet "$BIN"
rm -f .gpu-carry/odenet.xz
xz -9 -T2 .gpu-carry/odenet          # leaves .gpu-carry/odenet.xz
cp "$CIFAR" .gpu-carry/cifar10-jpeg.tar.gz

size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "binary $(mib "$(size "$BIN")"), xz $(mib "$(size .gpu-carry/odenet.xz)")"
TOTAL=$(du -cb .gpu-carry/* | tail -1 | cut -f1)
echo ".gpu-carry total: $(mib "$TOTAL") (carry limit 64 MiB)"
if (( TOTAL >= 64 * 1048576 )); then
  echo "ERROR: .gpu-carry is over 64 MiB" >&2
  exit 1
fi
cat <<'EOF'

Device call (one run, ~8 minutes; logs and summary.md come back under $OUT):
  run(command="bash scripts/gpu-check.sh", carry=[".gpu-carry"], timeout_s=540)
EOF
