#!/usr/bin/env bash
# Install what is missing, build (Release, -O3 -march=native), run every test with ctest.
# Extra arguments go to the CMake configure step, e.g. -DPERFORMER_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" -j"$(nproc)" --output-on-failure
