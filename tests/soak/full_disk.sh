#!/usr/bin/env bash
# train_text when its checkpoint cannot be written (ctest runs this):
#   fsize     a file-size limit (ulimit -f, SIGXFSZ ignored) smaller than the checkpoint: the
#             resumed run's first save fails with "File too large";
#   tmpfs     a real full disk: a tmpfs with room for one checkpoint but not for the temporary
#             copy beside it, so the second save fails with "No space left on device";
#   readonly  a read-only bind mount: refused before any training, "Read-only file system".
# Each time: exit 1 with an error naming the checkpoint and the reason, the checkpoint that was
# there bit-identical to the same run stopped at that step, and no temporary file left beside it.
# tmpfs and readonly need a private mount namespace (unshare -m); where none can be made they
# exit 77, which ctest reports as skipped.
# Usage: full_disk.sh <train_text> <work dir> fsize|tmpfs|readonly
set -uo pipefail
train_text=$1 work=$2 mode=$3
if [[ $mode != fsize && -z "${PF_PRIVATE_MOUNTS:-}" ]]; then
  unshare -m --propagation private true 2> /dev/null || { echo "SKIP: no mount namespace here (unshare -m)"; exit 77; }
  PF_PRIVATE_MOUNTS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

awk 'BEGIN { for (i = 0; i < 2000; i++) printf "%d: and the evening and the morning were day %d.\n", i, i % 7 }' > corpus.txt
small=(--data corpus.txt --steps 6 --width 32 --depth 2 --heads 2 --ff 64 --features 16 --context 32 --batch 4
       --warmup 2 --eval-every 0 --eval-tokens 256 --threads 1 --sample-length 0 --checkpoint-every 1)
tensor_bytes() { tail -c +$(( 9 + $(od -An -tu8 -N8 "$1" | tr -d ' ') )) "$1"; }
same_tensors() { cmp -s <(tensor_bytes "$1") <(tensor_bytes "$2"); }
no_temporary_files() { ! compgen -G "$1.tmp.*" > /dev/null || fail "temporary files left: $(ls "$1".tmp.*)"; }
# The run stopped after step 1 in a normal directory: what a failed save at step 2 must leave.
"$train_text" "${small[@]}" --stop-after 1 --checkpoint reference/step1.safetensors > reference.out 2>&1 ||
  fail "the reference run failed: $(tail -3 reference.out)"
expect_failure() { # <output prefix> <checkpoint> <reason>: the run failed, naming both
  grep -q "train_text: error: .*'$2'.*$3" "$1.err" || fail "no error naming '$2' and '$3': $(cat "$1".err)"
}

case $mode in
  fsize)
    mkdir -p limited && cp reference/step1.safetensors limited/run.safetensors
    # 100 KiB: the log and the probe file fit, a 330 KB checkpoint does not.
    if (ulimit -f 100 && trap '' XFSZ && exec "$train_text" "${small[@]}" --checkpoint limited/run.safetensors \
          --resume) > fsize.out 2> fsize.err; then
      fail "the run saved past the file-size limit"
    fi
    expect_failure fsize limited/run.safetensors "File too large"
    grep -q "resumed limited/run.safetensors at step 1" fsize.out || fail "the run did not resume: $(cat fsize.out)"
    same_tensors reference/step1.safetensors limited/run.safetensors || fail "the step-1 checkpoint changed"
    no_temporary_files limited/run.safetensors
    ;;
  tmpfs)
    size=$(stat -c %s reference/step1.safetensors)
    mkdir -p disk && mount -t tmpfs -o size=$(( size * 3 / 2 / 4096 * 4096 )) tmpfs disk ||
      { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
    trap 'umount disk' EXIT
    if "$train_text" "${small[@]}" --checkpoint disk/run.safetensors --log run.jsonl > tmpfs.out 2> tmpfs.err; then
      fail "the run saved two checkpoints on a disk with room for one and a half"
    fi
    expect_failure tmpfs disk/run.safetensors "No space left on device"
    same_tensors reference/step1.safetensors disk/run.safetensors || fail "the step-1 checkpoint is not intact"
    no_temporary_files disk/run.safetensors
    [[ "$(ls disk)" == run.safetensors ]] || fail "the full disk holds more than the checkpoint: $(ls disk)"
    ;;
  readonly)
    mkdir -p frozen && cp reference/step1.safetensors frozen/run.safetensors
    mount --bind frozen frozen && mount -o remount,bind,ro frozen || { echo "SKIP: cannot bind-mount read-only"; exit 77; }
    trap 'umount frozen' EXIT
    for resume in "" --resume; do
      if "$train_text" "${small[@]}" --checkpoint frozen/run.safetensors --log run.jsonl $resume > ro.out 2> ro.err; then
        fail "a run on a read-only file system succeeded"
      fi
      expect_failure ro frozen/run.safetensors "Read-only file system"
      ! grep -q "^data:\|^step\|resumed" ro.out || fail "the refusal came after the run had started: $(cat ro.out)"
    done
    same_tensors reference/step1.safetensors frozen/run.safetensors || fail "the checkpoint changed"
    ;;
  *) fail "unknown mode $mode" ;;
esac
echo "full disk ($mode): the save failed naming the path and the reason; the previous checkpoint is intact"
