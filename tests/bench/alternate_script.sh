#!/usr/bin/env bash
# bench/alternate.sh (ctest runs this): two fake programs print known numbers; the rounds must
# alternate A, B, A, B and the summary must hold their medians and the per-round ratios.
set -euo pipefail
script=$1 work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
# A prints 100, 200, 300 on its 1st, 2nd, 3rd run; B always prints 150 and logs the order.
cat > a.sh <<'A'
#!/usr/bin/env bash
n=$(( $(cat a.count 2> /dev/null || echo 0) + 1 )); echo $n > a.count; echo A >> order
echo "trained 1 steps ($(( n * 100 )) tokens/s)"
A
cat > b.sh <<'B'
#!/usr/bin/env bash
echo B >> order; echo "trained 1 steps (150 tokens/s)"
B
chmod +x a.sh b.sh
out=$(bash "$script" --rounds 3 ./a.sh ./b.sh -- --any-flag)
[[ "$(tr -d '\n' < order)" == "ABABAB" ]] || fail "runs were not alternated: $(tr -d '\n' < order)"
summary=$(tail -1 <<< "$out")
for want in '"rounds":3' '"median_a":200' '"median_b":150' '"ratio_b_over_a_median":0.7500' '"ratio_min":0.5000' \
            '"ratio_max":1.5000'; do
  grep -qF -- "$want" <<< "$summary" || fail "summary lacks $want: $summary"
done
# Errors: a program without the pattern in its output, a bad --rounds.
if bash "$script" --pattern 'nowhere' ./a.sh ./b.sh -- 2> err.txt; then fail "a missing pattern passed"; fi
grep -q "no match" err.txt || fail "the missing pattern's error does not say so: $(cat err.txt)"
if bash "$script" --rounds x ./a.sh ./b.sh -- 2> err.txt; then fail "--rounds x passed"; fi
grep -q "positive integer" err.txt || fail "the bad --rounds error does not say so: $(cat err.txt)"
echo "alternate.sh: alternates, medians and ratios as expected"
