#!/usr/bin/env bash
# Data-parallel training, end to end (ctest runs this when the build has MPI and the examples):
#   1. train_text on 2 ranks follows the single-process curve up to float summation order;
#   2. two identical 2-rank runs give bit-identical curves;
#   3. a 2-rank run stopped at step 10 and resumed ends with the weights of the uninterrupted run;
#   4. a batch the ranks do not divide is refused at once, naming the rank and the cause;
#   5. with dropout (each rank draws its own masks: tests/layers/test_dropout.cpp), a run stopped
#      and resumed still ends with the uninterrupted run's weights, bit for bit.
# Usage: two_ranks_equal_one.sh <train_text> <mpirun> <work dir>
set -euo pipefail
train_text=$1 mpirun=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
small=(--steps 20 --width 32 --depth 2 --heads 2 --ff 64 --features 16 --context 32 --warmup 4
       --eval-every 10 --eval-tokens 2048 --threads 1 --sample-length 0 --checkpoint-every 0)
fail() { echo "FAIL: $*" >&2; exit 1; }
curve() { grep -o "\"$2\":[-0-9.e]*" "$1" | cut -d: -f2; }

"$train_text" "${small[@]}" --batch 8 --checkpoint one.safetensors > one.out
"$mpirun" -np 2 "$train_text" "${small[@]}" --batch 8 --checkpoint two.safetensors > two.out
"$mpirun" -np 2 "$train_text" "${small[@]}" --batch 8 --checkpoint again.safetensors > again.out

# 1. equal up to summation order: relative differences below 1e-5
paste <(curve one.jsonl loss) <(curve two.jsonl loss) | awk '
  { d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5 * ($1 < 0 ? -$1 : $1)) bad++ ; n++ }
  END { if (n != 20 + 0 || bad) { printf "losses: %d of %d differ\n", bad, n; exit 1 } }' ||
  fail "2-rank training losses differ from the single process"
paste <(curve one.jsonl val_bpc) <(curve two.jsonl val_bpc) | awk '
  { d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5 * $1) bad++; n++ } END { exit (n != 2 || bad) }' ||
  fail "2-rank validation differs from the single process"

# 2. two identical 2-rank runs: the same curve to the last digit
[[ "$(curve two.jsonl loss)" == "$(curve again.jsonl loss)" ]] || fail "two identical 2-rank runs differ"

# 3. stop at step 10, resume to 20: the tensors equal the uninterrupted run's, bit for bit
"$mpirun" -np 2 "$train_text" "${small[@]}" --batch 8 --checkpoint part.safetensors --stop-after 10 > part1.out
"$mpirun" -np 2 "$train_text" "${small[@]}" --batch 8 --checkpoint part.safetensors --resume > part2.out
grep -q "resumed part.safetensors at step 10" part2.out || fail "the resumed run did not start at step 10"
# A safetensors file is an 8-byte header length, the JSON header (with the metadata, whose
# timings differ), then the tensors' bytes: compare those bytes.
tensor_bytes() { tail -c +$(( 9 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1"; }
cmp -s <(tensor_bytes two.safetensors) <(tensor_bytes part.safetensors) ||
  fail "resumed 2-rank weights differ from the uninterrupted run"

# 4. refused before training, fast, naming the rank
start=$(date +%s)
if "$mpirun" -np 2 "$train_text" "${small[@]}" --batch 7 --checkpoint bad.safetensors > bad.out 2> bad.err; then
  fail "--batch 7 on 2 ranks was accepted"
fi
(( $(date +%s) - start < 30 )) || fail "the refusal took more than 30 s"
# Every rank finds the bad batch; whichever aborts first is named.
grep -Eq "rank [01] of 2: train_text: error: --batch 7 is the global batch and must divide into 2 ranks" bad.err ||
  fail "the refusal does not name the rank and the cause: $(cat bad.err)"
# 5. dropout on 2 ranks: accepted; stopped at 10 and resumed == uninterrupted, bit for bit (a rank
#    that did not find its own generators again would draw other masks after the resume)
drop=(--dropout 0.2 --batch 8)
"$mpirun" -np 2 "$train_text" "${small[@]}" "${drop[@]}" --checkpoint drop_two.safetensors > drop_two.out ||
  fail "--dropout on 2 ranks was refused: $(tail -3 drop_two.out)"
"$mpirun" -np 2 "$train_text" "${small[@]}" "${drop[@]}" --checkpoint drop_part.safetensors --stop-after 10 > drop1.out
"$mpirun" -np 2 "$train_text" "${small[@]}" "${drop[@]}" --checkpoint drop_part.safetensors --resume > drop2.out
cmp -s <(tensor_bytes drop_two.safetensors) <(tensor_bytes drop_part.safetensors) ||
  fail "with dropout, resumed 2-rank weights differ from the uninterrupted run"
echo "two ranks equal one: all checks passed"
