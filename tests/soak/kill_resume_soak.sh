#!/usr/bin/env bash
# Kill-and-resume soak (ctest runs this): a small train_text run that saves after every step is
# killed with SIGKILL at seeded random moments (while starting, training or saving), resumed
# with --resume after every kill, and must end with the tensors of an uninterrupted run of the
# same steps, bit for bit. A kill that lands during a save is seen by the save's temporary file
# (<checkpoint>.tmp.XXXXXX) left behind; the checkpoint under its own name must load every time.
#
# Usage: kill_resume_soak.sh <train_text> <work dir> <seed> [<mpirun>]
#   with <mpirun>: the same with 2 ranks; a kill then hits both ranks and mpirun at once.
# PF_SOAK_STEPS overrides the run's length (the sanitized build is ~12x slower: CI sets 60) and
# PF_SOAK_MID_SAVE=0 only reports the kills that landed in a save (there compute dwarfs saving).
set -uo pipefail
train_text=$1 work=$2 seed=$3 mpirun=${4:-}
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

min_kills=10 attempts=14 steps=400
launch=("$train_text")
min_ms=5 slack=8         # raised to the first save's time below; a step with its save takes a few ms
if [[ -n "$mpirun" ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  launch=("$mpirun" -np 2 "$train_text")
  min_ms=400               # mpirun itself takes ~0.5 s to start the ranks (measured below)
  steps=1000               # training must dwarf the ~50 ms jitter of mpirun's start-up
fi

# A text of numbered lines, made here (no data package needed).
awk 'BEGIN { for (i = 0; i < 3000; i++)
  printf "%d: In the beginning was the word, and the word was %d times %d.\n", i, i % 7, i % 13 }' > corpus.txt
steps=${PF_SOAK_STEPS:-$steps}
small=(--data corpus.txt --steps $steps --width 32 --depth 2 --heads 2 --ff 64 --features 16 --context 32
       --batch 4 --warmup 4 --eval-every 0 --eval-tokens 256 --threads 1 --sample-length 0 --checkpoint-every 1)

# A safetensors file is an 8-byte header length, the JSON header (metadata with timings that
# differ between runs), then the tensors' bytes: those are compared.
tensor_bytes() { tail -c +$(( 9 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1"; }
saved_step() { # the run.step metadata of a checkpoint, -1 when there is none
  [[ -f "$1" ]] || { echo -1; return; }
  head -c $(( 8 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1" | grep -ao '"run.step":"[0-9]*"' | tr -dc 0-9
  echo
}
header_entry() { head -c $(( 8 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1" | grep -ao "\"$2\":\"[^\"]*\""; }

start=$(date +%s%N)
"${launch[@]}" "${small[@]}" --checkpoint straight.safetensors > straight.out 2>&1 &
straight=$!
first_save_ms=0  # when the uninterrupted run's first checkpoint appeared: its start-up time
while kill -0 $straight 2> /dev/null; do
  (( first_save_ms == 0 )) && [[ -f straight.safetensors ]] && first_save_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 0.005
done
wait $straight || fail "the uninterrupted run failed: $(tail -5 straight.out)"
# Kill moments uniform in [min_ms, max_ms]. min_ms is the start-up S, the time the uninterrupted
# run's first checkpoint took to appear (it varies with the machine and its load: the FMA probe,
# mpirun starting the ranks), so a kill at t makes about t - S of progress; max_ms = S + 2 T /
# (attempts + slack) with T = D - S the run's training time, so the attempts cut short add up to
# about attempts / (attempts + slack) of T, and all the kills land before the run can finish, on a
# fast or a slow (sanitized, loaded) machine alike.
whole_ms=$(( ($(date +%s%N) - start) / 1000000 ))
(( first_save_ms > 0 )) && min_ms=$first_save_ms
max_ms=$(( min_ms + 2 * (whole_ms - min_ms) / (attempts + slack) ))
(( max_ms > min_ms + 10 )) || max_ms=$(( min_ms + 10 ))
echo "the uninterrupted run took $whole_ms ms, its first save came after $first_save_ms ms; kills after $min_ms..$max_ms ms"

RANDOM=$seed
kills=0 mid_save=0 before_first_save=0 during_start=0
ckpt=soak.safetensors
for (( attempt = 1; attempt <= attempts; attempt++ )); do
  resume=()
  [[ -f $ckpt ]] && resume=(--resume)
  before=$(saved_step $ckpt)
  span=$(( max_ms - min_ms ))
  # Past 60 % of the run (a machine faster than the reference run was), kills come sooner.
  (( before > steps * 6 / 10 )) && span=$(( span / 4 ))
  ms=$(( min_ms + (RANDOM * 32768 + RANDOM) % (span + 1) ))
  "${launch[@]}" "${small[@]}" --checkpoint $ckpt "${resume[@]}" > run$attempt.out 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $(( ms / 1000 )) $(( ms % 1000 )))"
  victims=$pid
  [[ -n "$mpirun" ]] && victims="$(pgrep -P "$pid" | tr '\n' ' ') $pid"
  # shellcheck disable=SC2086
  kill -KILL $victims 2> /dev/null
  wait "$pid" 2> /dev/null
  rc=$?
  if (( rc == 0 )); then
    echo "attempt $attempt: the run finished within ${ms} ms, before the kill"
    break
  fi
  # A 2-rank job whose ranks were killed may report its own non-zero code instead of 137.
  if [[ -z "$mpirun" ]] && (( rc != 137 )); then
    fail "attempt $attempt: train_text failed by itself (exit $rc): $(tail -5 run$attempt.out)"
  fi
  if grep -q "train_text: error" run$attempt.out; then fail "attempt $attempt: $(grep "train_text: error" run$attempt.out)"; fi
  kills=$(( kills + 1 ))
  temps=$(compgen -G "$ckpt.tmp.*" | wc -l)
  after=$(saved_step $ckpt)
  where="between saves"
  if (( temps > 0 )); then where="during a save"; mid_save=$(( mid_save + 1 )); fi
  if (( after == before )) && (( temps == 0 )); then where="while starting"; during_start=$(( during_start + 1 )); fi
  (( before < 0 && after < 0 )) && before_first_save=$(( before_first_save + 1 ))
  echo "kill $kills after ${ms} ms ($where): checkpoint at step $before -> $after"
  (( after >= before )) || fail "the checkpoint went back from step $before to $after"
  # What a killed save leaves is its temporary file, never a torn checkpoint: clear it away so
  # the next kill's is seen afresh.
  rm -f "$ckpt".tmp.*
done

resume=()
[[ -f $ckpt ]] && resume=(--resume)
"${launch[@]}" "${small[@]}" --checkpoint $ckpt "${resume[@]}" > final.out 2>&1 ||
  fail "the last resume failed: $(tail -5 final.out)"
[[ ${#resume[@]} -eq 0 ]] || grep -q "resumed $ckpt at step" final.out || fail "the last run did not resume"
echo "kills: $kills (during a save: $mid_save, while starting: $during_start, before the first checkpoint: $before_first_save)"
(( kills >= min_kills )) || fail "only $kills kills landed (at least $min_kills wanted)"
# One process spends most of its time saving (~half the kills land in a save: none in 14 is a
# ~1e-4 chance); 2 ranks spend it in the gradient exchange, so there it is only reported.
[[ -n "$mpirun" || "${PF_SOAK_MID_SAVE:-1}" == 0 ]] || (( mid_save >= 1 )) || fail "no kill landed during a save"
[[ "$(saved_step $ckpt)" == "$steps" ]] || fail "the resumed run ended at step $(saved_step $ckpt), not $steps"
cmp -s <(tensor_bytes straight.safetensors) <(tensor_bytes $ckpt) ||
  fail "after $kills kills and resumes the weights differ from the uninterrupted run's"
[[ "$(header_entry straight.safetensors run.data_rng)" == "$(header_entry $ckpt run.data_rng)" ]] ||
  fail "the data generator's state differs from the uninterrupted run's"
echo "kill-and-resume soak: bit-identical to the uninterrupted run"
