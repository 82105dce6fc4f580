#!/usr/bin/env bash
# A/B timing on a shared machine: runs two builds of a program alternately (A B A B ...) with the
# same arguments and compares them round by round, so a host that drifts during the runs (other
# tenants, frequency) moves both sides of each round alike. Prints JSON lines: one per run, then
# a summary with the medians and the per-round ratios B / A (median, min, max).
#
#   bench/alternate.sh [--rounds N] [--pattern REGEX] BIN_A BIN_B -- ARGS...
#
# REGEX picks the number to compare from each run's output (the first match; its first number
# is taken): by default train_text's "(N tokens/s)". Examples:
#   bench/alternate.sh --rounds 5 /tmp/old/train_text build/examples/train_text -- \
#     --steps 100 --eval-every 0 --sample-length 0 --checkpoint-every 0 --threads 2 --checkpoint /tmp/ab.safetensors
#   bench/alternate.sh --pattern '[0-9.]+ us/token' A/sample_text B/sample_text -- --checkpoint C --timing
# Time on a quiet machine (nothing else building or running) with the malloc settings the
# README's performance notes use; the script sets them unless they are set.
set -euo pipefail
rounds=3 pattern='[0-9]+ tokens/s'
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --pattern) pattern=$2; shift 2 ;;
    *) echo "alternate.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 3 || "$3" != "--" ]]; then
  echo "usage: alternate.sh [--rounds N] [--pattern REGEX] BIN_A BIN_B -- ARGS..." >&2
  exit 2
fi
a=$1 b=$2
shift 3
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "alternate.sh: --rounds must be a positive integer, got '$rounds'" >&2; exit 2; }
for bin in "$a" "$b"; do [[ -x "$bin" ]] || { echo "alternate.sh: $bin is not an executable" >&2; exit 2; }; done
export MALLOC_MMAP_MAX_=${MALLOC_MMAP_MAX_:-0} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-1000000000}

value_of() {  # the first number of the first match of $pattern in the output of "$@"
  local out
  out=$("$@" 2>&1) || { echo "alternate.sh: failed: $* :: $(tail -3 <<< "$out")" >&2; exit 1; }
  local hit
  hit=$(grep -Eo -m1 -- "$pattern" <<< "$out" | head -1) || true
  [[ -n "$hit" ]] || { echo "alternate.sh: no match for '$pattern' in the output of $1" >&2; exit 1; }
  grep -Eo '[0-9]+(\.[0-9]+)?' <<< "$hit" | head -1
}

values_a=() values_b=()
for (( r = 1; r <= rounds; r++ )); do
  va=$(value_of "$a" "$@")
  vb=$(value_of "$b" "$@")
  values_a+=("$va") values_b+=("$vb")
  printf '{"bench":"alternate","round":%d,"a":%s,"b":%s}\n' "$r" "$va" "$vb"
done
# The pattern as a JSON string, passed through the environment (awk -v would undo the escapes).
PF_JSON_PATTERN=$(sed 's/\\/\\\\/g; s/"/\\"/g' <<< "$pattern") \
awk -v a="${values_a[*]}" -v b="${values_b[*]}" '
  function median(v, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  BEGIN {
    pat = ENVIRON["PF_JSON_PATTERN"]
    n = split(a, va, " "); split(b, vb, " ")
    for (i = 1; i <= n; i++) { r[i] = vb[i] / va[i]; ca[i] = va[i]; cb[i] = vb[i] }
    lo = r[1]; hi = r[1]
    for (i = 2; i <= n; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
    printf "{\"bench\":\"alternate\",\"summary\":true,\"pattern\":\"%s\",\"rounds\":%d,\"median_a\":%g,\"median_b\":%g,", pat, n, median(ca, n), median(cb, n)
    printf "\"ratio_b_over_a_median\":%.4f,\"ratio_min\":%.4f,\"ratio_max\":%.4f}\n", median(r, n), lo, hi
  }'
