#!/usr/bin/env bash
# Fuzzes every loader: builds the libFuzzer harnesses of fuzz/ with clang-14 under ASan + UBSan
# (build-fuzz/, -DPERFORMER_FUZZ=ON) and runs each for FUZZ_SECONDS (default 60) on a copy of its
# seed corpus (fuzz/corpus/<harness>/). A crash, sanitizer report, hang (-timeout) or running out
# of memory (-rss_limit_mb) is a finding: the script exits nonzero and keeps the input in
# build-fuzz/fuzz-run/<harness>/findings/. A fixed finding goes to fuzz/regressions/<harness>/,
# which the normal test suite replays (ctest -R fuzz_replay).
#   bash scripts/fuzz.sh                      # every harness, 60 s each
#   FUZZ_SECONDS=10 bash scripts/fuzz.sh npy  # some harnesses, 10 s each
# clang-14 and libfuzzer-14-dev are installed with apt-get when missing (not by install_deps.sh:
# the Quick start does not need clang).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
harnesses=("$@")
if (( ${#harnesses[@]} == 0 )); then
  harnesses=(safetensors checkpoint npy idx idx_gzip fasta fasta_gzip text text_gzip config)
fi
start=$(date +%s)

bash scripts/install_deps.sh clang-14 libfuzzer-14-dev

echo "== fuzz: building the harnesses in $build_dir (clang-14, ASan + UBSan + libFuzzer) =="
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPERFORMER_FUZZ=ON \
  -DPERFORMER_BUILD_TESTS=OFF -DPERFORMER_BUILD_BENCH=OFF -DPERFORMER_BUILD_EXAMPLES=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OPENBLAS_NUM_THREADS=1
# The harnesses write each input to a file (the loaders read paths): in memory when /dev/shm is there.
input_dir=$(mktemp -d "$( [[ -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}" )/pf_fuzz_XXXXXX")
trap 'rm -rf "$input_dir"' EXIT
findings=0
summary=()
for h in "${harnesses[@]}"; do
  run="$build_dir/fuzz-run/$h"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/findings"
  cp fuzz/corpus/"$h"/* "$run/corpus/"
  echo "== fuzz: $h for ${seconds}s =="
  status=0
  TMPDIR="$input_dir" "$build_dir/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$run/findings/" "$run/corpus" >"$run/log.txt" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$run/log.txt" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$run/log.txt" | grep -o '[0-9]*$' || echo "?")
  if (( status != 0 )) || [[ -n "$(ls -A "$run/findings")" ]]; then
    findings=$((findings + 1))
    summary+=("$(printf '%-12s %10s executions %7s/s  FINDING (exit %d): %s' "$h" "$execs" "$rate" "$status" "$run/findings/")")
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$run/log.txt" | head -20 || true
    echo "fuzz: $h: the log is $run/log.txt; reproduce with $build_dir/fuzz/fuzz_$h <input>"
  else
    summary+=("$(printf '%-12s %10s executions %7s/s  ok' "$h" "$execs" "$rate")")
  fi
done

echo "== fuzz: summary (${seconds}s per harness, $(( $(date +%s) - start ))s in all) =="
printf '%s\n' "${summary[@]}"
if (( findings > 0 )); then
  echo "fuzz: $findings harness(es) found a problem; the inputs are kept in $build_dir/fuzz-run/<harness>/findings/" >&2
  exit 1
fi
echo "fuzz: no findings"
