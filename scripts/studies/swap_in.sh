#!/usr/bin/env bash
# Swap-in study (Performer paper, backwards compatibility): train the default text model with
# exact softmax attention for MINUTES, then from its weights
#   (i)  continue with exact attention for FINETUNE_MINUTES, and
#   (ii) swap FAVOR+ in (--init-from ... --attention favor-positive: the weights, fresh random
#        projections) and fine-tune it for FINETUNE_MINUTES.
# Both continuations are new runs from the same checkpoint (step 0, fresh optimizer, the same
# fine-tuning schedule), each evaluated at step 0 (right after the swap) and ten times during.
#
#   bash scripts/studies/swap_in.sh                                  # 10 + 5 minutes
#   MINUTES=0.1 FINETUNE_MINUTES=0.05 TEXT_FLAGS="--width 32 --depth 1 --context 64" bash scripts/studies/swap_in.sh
#
# Writes $OUT/swap_in.jsonl (the three logs, tagged "run"), $OUT/swap_in.svg (validation
# bits/char of the pretraining and both continuations against their minutes) and
# $OUT/swap_in.md (bits/char at the end of pretraining, right after the swap, and at the end).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MINUTES="${MINUTES:-10}"
FINETUNE_MINUTES="${FINETUNE_MINUTES:-5}"
FINETUNE_FLAGS="${FINETUNE_FLAGS:---lr 5e-4 --warmup 20}"  # a gentler schedule for the fine-tune
TEXT_FLAGS="${TEXT_FLAGS:-}"  # appended to every train_text run (sizes for a quick try)

build_programs train_text plot_runs
dir="$RUNS/swap_in"
mkdir -p "$dir"
text=("$BUILD/examples/train_text" --sample-length 0 --eval-every 0 --threads "$THREADS")

say "pretraining with exact attention ($MINUTES min)"
"${text[@]}" --attention exact --minutes "$MINUTES" --eval-every-minutes "$(eval_every "$MINUTES")" \
  --checkpoint "$dir/exact.safetensors" $TEXT_FLAGS
for attention in exact favor-positive; do
  say "from the exact model, $attention for $FINETUNE_MINUTES min"
  "${text[@]}" --init-from "$dir/exact.safetensors" --attention "$attention" --minutes "$FINETUNE_MINUTES" \
    --eval-every-minutes "$(eval_every "$FINETUNE_MINUTES")" --checkpoint "$dir/then_$attention.safetensors" \
    $FINETUNE_FLAGS $TEXT_FLAGS
done

study="$OUT/swap_in.jsonl"
: >"$study"
append_log pretrain-exact "$dir/exact.jsonl" "$study"
append_log continue-exact "$dir/then_exact.jsonl" "$study"
append_log swap-favor-positive "$dir/then_favor-positive.jsonl" "$study"
"$BUILD/examples/plot_runs" --out "$OUT/swap_in.svg" \
  --title "FAVOR+ swapped into an exact-attention model after $MINUTES min, fine-tuned $FINETUNE_MINUTES min" \
  --metric val_bpc --metric-label "validation bits/char" \
  "pretraining (exact)=$dir/exact.jsonl" "continued (exact)=$dir/then_exact.jsonl" \
  "swapped in (favor-positive)=$dir/then_favor-positive.jsonl"

# The first and last eval line of a log: "bits/char at step 0 | bits/char at the end | steps".
evals() {
  grep '"kind":"eval"' "$1" | sed -n '1p;$p' | sed 's/.*"step":\([0-9]*\).*"val_bpc":\([-0-9.e]*\).*/\1 \2/' |
    awk 'NR == 1 { first = $2 } END { printf "%.4f | %.4f | %d", first, $2, $1 }'
}
{
  echo "Swap-in study: \`MINUTES=$MINUTES FINETUNE_MINUTES=$FINETUNE_MINUTES bash scripts/studies/swap_in.sh\`"
  echo
  echo "| run | validation bits/char at its step 0 | at its end | steps |"
  echo "| --- | --- | --- | --- |"
  echo "| pretraining, exact ($MINUTES min) | - | $(evals "$dir/exact.jsonl" | cut -d'|' -f2-) |"
  echo "| continued with exact ($FINETUNE_MINUTES min) | $(evals "$dir/then_exact.jsonl") |"
  echo "| swapped to favor-positive ($FINETUNE_MINUTES min) | $(evals "$dir/then_favor-positive.jsonl") |"
} >"$OUT/swap_in.md"
cat "$OUT/swap_in.md"
say "done: $study, $OUT/swap_in.svg, $OUT/swap_in.md"
