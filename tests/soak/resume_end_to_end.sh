#!/usr/bin/env bash
# --resume end to end, from the file alone (ctest runs this per program): a run of N steps, and
# the same run stopped after k steps (a new process) then resumed to N (another process) from its
# checkpoint, end with bit-identical tensors (weights, optimizer moments, generators) and the
# same saved data generator. Data: a small text (train_text) or FASTA file (train_protein) made
# here; train_pixels uses Debian's Fashion-MNIST and exits 77 (skipped) without it.
# Usage: resume_end_to_end.sh <program> <work dir> text|protein|pixels
set -uo pipefail
program=$1 work=$2 kind=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
common=(--width 16 --depth 2 --heads 2 --ff 32 --features 8 --batch 4 --warmup 2 --threads 1
        --checkpoint-every 4 --dropout 0.1 --redraw 3)
case $kind in
  text)
    awk 'BEGIN { for (i = 0; i < 2000; i++) printf "%d: and God saw the light, that it was good %d.\n", i, i % 9 }' > corpus.txt
    flags=(--data corpus.txt --context 24 --eval-every 0 --eval-tokens 128 --sample-length 0) ;;
  protein)
    awk 'BEGIN { srand(3); split("ACDEFGHIKLMNPQRSTVWY", aa, "");
                 for (s = 0; s < 300; s++) { printf ">seq%d\n", s; n = 30 + int(rand() * 40);
                   for (i = 0; i < n; i++) printf "%s", aa[1 + int(rand() * 20)]; printf "\n" } }' > proteins.fasta
    flags=(--data proteins.fasta --task masked --length 32 --eval-sequences 16) ;;
  pixels)
    [[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] ||
      { echo "SKIP: dataset-fashion-mnist is not installed"; exit 77; }
    flags=(--task classify --eval-images 64) ;;
  *) fail "unknown kind $kind" ;;
esac
tensor_bytes() { tail -c +$(( 9 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1"; }
header_entry() { head -c $(( 8 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1" | grep -ao "\"$2\":\"[^\"]*\""; }

"$program" "${flags[@]}" "${common[@]}" --steps 12 --checkpoint straight.safetensors > straight.out 2>&1 ||
  fail "the uninterrupted run failed: $(tail -3 straight.out)"
"$program" "${flags[@]}" "${common[@]}" --steps 12 --checkpoint part.safetensors --stop-after 5 > first.out 2>&1 ||
  fail "the first part failed: $(tail -3 first.out)"
"$program" "${flags[@]}" "${common[@]}" --steps 12 --checkpoint part.safetensors --resume > second.out 2>&1 ||
  fail "the resumed part failed: $(tail -3 second.out)"
grep -q "resumed part.safetensors at step 5" second.out || fail "the second process did not resume at step 5"
cmp -s <(tensor_bytes straight.safetensors) <(tensor_bytes part.safetensors) ||
  fail "stopped at 5 and resumed to 12, the tensors differ from the uninterrupted run's"
[[ "$(header_entry straight.safetensors run.data_rng)" == "$(header_entry part.safetensors run.data_rng)" ]] ||
  fail "the saved data generator differs"
[[ "$(header_entry part.safetensors run.step)" == '"run.step":"12"' ]] || fail "the resumed run did not end at step 12"
# The check can fail: a run of other length differs.
"$program" "${flags[@]}" "${common[@]}" --steps 13 --checkpoint longer.safetensors > longer.out 2>&1 || fail "longer run failed"
! cmp -s <(tensor_bytes straight.safetensors) <(tensor_bytes longer.safetensors) || fail "12 and 13 steps gave the same tensors"
echo "resume end to end ($kind): bit-identical to the uninterrupted run"
