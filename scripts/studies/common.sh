# Shared by the study scripts (sourced, not run): the build, where runs and outputs go, and how a
# run's log becomes the study's JSON lines. Every variable can be set from the environment:
#   MINUTES  training time of each run (equal for every run of a study)
#   BUILD    the CMake build directory (its programs are built here if missing or stale)
#   RUNS     where checkpoints and per-run logs go (not committed)
#   OUT      where the study's JSON lines, plot and table go (docs/studies, committed by hand)
#   THREADS  --threads of every run (0: all cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BUILD="${BUILD:-build}"
RUNS="${RUNS:-runs/studies}"
OUT="${OUT:-docs/studies}"
THREADS="${THREADS:-0}"
mkdir -p "$RUNS" "$OUT"

build_programs() {  # build_programs target...
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$BUILD" -j"$(nproc)" --target "$@" >/dev/null
}

# Evaluation marks: ten per run (training time only).
eval_every() { awk -v m="$1" 'BEGIN { printf "%g", m / 10 }'; }

# Appends a run's log to the study's JSON lines, each line tagged with the run's label.
append_log() {  # append_log LABEL LOG STUDY_JSONL
  sed "s/^{/{\"run\":\"$1\",/" "$2" >>"$3"
}

say() { printf '\n== %s\n' "$*"; }
