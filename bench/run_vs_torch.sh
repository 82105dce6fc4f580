#!/usr/bin/env bash
# Side by side with PyTorch, one command: builds bench/vs_torch (needs Debian's libtorch-dev,
# which the project does not depend on: apt-get install -y libtorch-dev) and runs it with the
# malloc settings both sides share, so freed memory is reused instead of handed back and
# faulted in again (the same settings the issue's PyTorch reference numbers were taken with).
#
#   bench/run_vs_torch.sh [vs_torch flags...]     e.g. --threads 2 --lens 1024,2048,4096,8192
#
# JSON lines go to stdout (the first line records the settings); progress goes to stderr.
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the machine sets them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ ! -f /usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake ]; then
  echo "run_vs_torch: LibTorch is not installed (apt-get install -y libtorch-dev)" >&2
  exit 2
fi
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
# LibTorch's headers are heavy: one job.
cmake --build "$build" -j1 --target vs_torch >&2

export MALLOC_MMAP_MAX_=0                    # every allocation from the heap, none from mmap
export MALLOC_TRIM_THRESHOLD_=17179869184    # 16 GiB: freed heap memory stays for reuse
echo "run_vs_torch: MALLOC_MMAP_MAX_=$MALLOC_MMAP_MAX_ MALLOC_TRIM_THRESHOLD_=$MALLOC_TRIM_THRESHOLD_" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} flags: $*" >&2
exec "$build/bench/vs_torch" "$@"
