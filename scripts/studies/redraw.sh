#!/usr/bin/env bash
# Redraw study (Performer paper, feature redrawing): the same small FAVOR+ model trained with fixed
# random features and with redrawing every N steps, orthogonal and iid, on the text task
# (train_text) and on protein masking (train_protein), MINUTES of training each; then, on every
# trained model, the attention-output error against exact softmax attention with the model's own
# queries and keys, before and after one more redraw (trained_attention_error).
#
#   bash scripts/studies/redraw.sh                       # MINUTES=10 per run (16 runs)
#   MINUTES=0.1 TEXT_FLAGS="--width 32 --depth 1 --context 64 --eval-tokens 4096" \
#     PROTEIN_FLAGS="--width 32 --depth 1 --length 64 --eval-sequences 32" bash scripts/studies/redraw.sh
#
# Writes $OUT/redraw.jsonl (every run's log, tagged "run"), $OUT/redraw.svg (validation bits/char
# and held-out accuracy against minutes), $OUT/redraw_attention_error.jsonl (per model and layer,
# the relative error before and after a redraw).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MINUTES="${MINUTES:-10}"
REDRAWS="${REDRAWS:-0 10 100 1000}"     # 0: fixed features
FEATURES="${FEATURES:-16}"              # few features, where the sampling matters most
MODEL="${MODEL:---width 64 --depth 2 --heads 4 --ff 256}"
TEXT_FLAGS="${TEXT_FLAGS:-}"            # appended to train_text's flags (sizes for a quick try)
PROTEIN_FLAGS="${PROTEIN_FLAGS:-}"      # appended to train_protein's flags

build_programs train_text train_protein trained_attention_error plot_runs
dir="$RUNS/redraw"
mkdir -p "$dir"
study="$OUT/redraw.jsonl" errors="$OUT/redraw_attention_error.jsonl"
: >"$study"
: >"$errors"
plots=()
for task in text protein; do
  for projection in orthogonal iid; do
    for n in $REDRAWS; do
      label="$task-$projection-$([[ $n == 0 ]] && echo fixed || echo "redraw$n")"
      say "$label ($MINUTES min)"
      common=(--attention favor-positive --features "$FEATURES" --redraw "$n" $MODEL --minutes "$MINUTES"
              --eval-every-minutes "$(eval_every "$MINUTES")" --threads "$THREADS"
              --checkpoint "$dir/$label.safetensors")
      [[ $projection == iid ]] && common+=(--iid)
      if [[ $task == text ]]; then
        "$BUILD/examples/train_text" "${common[@]}" --eval-every 0 --sample-length 0 $TEXT_FLAGS
      else
        "$BUILD/examples/train_protein" --task masked "${common[@]}" $PROTEIN_FLAGS
      fi
      append_log "$label" "$dir/$label.jsonl" "$study"
      plots+=("$label=$dir/$label.jsonl")
      "$BUILD/examples/trained_attention_error" --checkpoint "$dir/$label.safetensors" --label "$label" \
        --threads "$THREADS" --out "$errors"
    done
  done
done
"$BUILD/examples/plot_runs" --out "$OUT/redraw.svg" \
  --title "FAVOR+ with fixed vs redrawn random features (m = $FEATURES, $MINUTES min each)" \
  --metric val_bpc --metric-label "text: validation bits/char" --scale 1 \
  --metric heldout_accuracy --metric-label "proteins: held-out masked accuracy (%)" --scale 100 \
  "${plots[@]}"
say "done: $study, $errors, $OUT/redraw.svg"
