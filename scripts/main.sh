#!/usr/bin/env bash
# Install what is missing, build (Release), and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target train_text sample_text
# Train a small Performer LM on the King James Bible (Debian bible-kjv) for a few minutes,
# report validation bits/char and print a sample; flags pass through (see --help).
"$build_dir"/examples/train_text "$@"
