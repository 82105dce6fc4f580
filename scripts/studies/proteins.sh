#!/usr/bin/env bash
# Protein comparison (Performer paper, proteins against other efficient attentions): masked-token
# prediction with exact, FAVOR+ (positive and ReLU), Linformer and Reformer attention at equal
# model size and equal training time (MINUTES each), at crop lengths 256 and 1024; held-out
# masked accuracy and perplexity, peak memory and tokens/s from each run's log in one table.
# A kernel this build of train_protein does not know is skipped with a message, so the script
# runs before and after Linformer and Reformer exist.
#
#   bash scripts/studies/proteins.sh                         # 10 runs of MINUTES=10
#   MINUTES=0.1 LENGTHS="32 64" PROTEIN_FLAGS="--width 32 --depth 1 --eval-sequences 32" bash scripts/studies/proteins.sh
#
# Writes $OUT/proteins.jsonl (one object per run: final held-out numbers, rate, peak memory),
# $OUT/proteins_curves.jsonl (every run's log, tagged "run"), $OUT/proteins.svg (held-out accuracy
# against minutes) and $OUT/proteins.md (the table, with the command).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MINUTES="${MINUTES:-10}"
KERNELS="${KERNELS:-exact favor-positive favor-relu linformer reformer}"
LENGTHS="${LENGTHS:-256 1024}"
MODEL="${MODEL:---width 128 --depth 2 --heads 4 --ff 256 --features 64}"
PROTEIN_FLAGS="${PROTEIN_FLAGS:-}"  # appended to every run (sizes for a quick try, kernel options)

build_programs train_protein plot_runs run_table
dir="$RUNS/proteins"
mkdir -p "$dir"
curves="$OUT/proteins_curves.jsonl"
: >"$curves"
runs=() skipped=()
for length in $LENGTHS; do
  for kernel in $KERNELS; do
    label="$kernel, length $length"
    base="$dir/${kernel}_L$length"
    say "$label ($MINUTES min)"
    status=0
    "$BUILD/examples/train_protein" --task masked --attention "$kernel" --length "$length" $MODEL \
      --minutes "$MINUTES" --eval-every-minutes "$(eval_every "$MINUTES")" --threads "$THREADS" \
      --checkpoint "$base.safetensors" $PROTEIN_FLAGS 2> >(tee "$base.err" >&2) || status=$?
    wait  # the tee of stderr
    if ((status != 0)); then
      if grep -q -- "--attention" "$base.err"; then
        echo "skipping $kernel: this train_protein does not know the kernel ($(head -1 "$base.err"))" >&2
        skipped+=("$kernel")
        continue
      fi
      echo "train_protein failed for $label (exit $status); see $base.err" >&2
      exit "$status"
    fi
    append_log "$label" "$base.jsonl" "$curves"
    runs+=("$label=$base.jsonl")
  done
done
((${#runs[@]} > 0)) || { echo "no run succeeded" >&2; exit 1; }
"$BUILD/examples/plot_runs" --out "$OUT/proteins.svg" \
  --title "Masked protein modelling, equal size and time ($MINUTES min each)" \
  --metric heldout_accuracy --metric-label "held-out masked accuracy (%)" --scale 100 "${runs[@]}"
{
  echo "Protein comparison: \`MINUTES=$MINUTES LENGTHS=\"$LENGTHS\" KERNELS=\"$KERNELS\" bash scripts/studies/proteins.sh\`"
  echo "(model: $MODEL${PROTEIN_FLAGS:+ $PROTEIN_FLAGS}; units_per_s counts input tokens per second of training)"
  echo
  "$BUILD/examples/run_table" --percent heldout_accuracy --jsonl "$OUT/proteins.jsonl" "${runs[@]}"
  if ((${#skipped[@]} > 0)); then
    echo
    echo "Not run (unknown to this build's train_protein): $(printf '%s\n' "${skipped[@]}" | sort -u | tr '\n' ' ')"
  fi
} >"$OUT/proteins.md"
cat "$OUT/proteins.md"
say "done: $OUT/proteins.jsonl, $curves, $OUT/proteins.svg, $OUT/proteins.md"
