#!/usr/bin/env bash
# A program given a bad flag or file (ctest runs this once per case): it must stop within 60 s
# with exit code 1..123 (an error, not a crash, a signal or a hang) and print a message matching
# <regex> (grep -E) that says what was wrong. The work dir gets a small text file, corpus.txt.
# Usage: expect_error.sh <work dir> <regex> <program> [args...]
set -uo pipefail
work=$1 regex=$2
shift 2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
awk 'BEGIN { for (i = 0; i < 500; i++) printf "%d: let there be light, and there was light.\n", i }' > corpus.txt
timeout 60 "$@" > out.txt 2>&1
rc=$?
cat out.txt
(( rc >= 1 && rc <= 123 )) || { echo "FAIL: exit code $rc (0: accepted; 124: hung; >128: killed by a signal)"; exit 1; }
grep -Eq -- "$regex" out.txt || { echo "FAIL: no message matching: $regex"; exit 1; }
! grep -Eq "Sanitizer|terminate called|Assertion|bad_alloc|Segmentation" out.txt || { echo "FAIL: crashed"; exit 1; }
echo "exit $rc with the expected message"
