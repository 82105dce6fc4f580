#!/usr/bin/env bash
# A rank that throws ends the whole job: non-zero exit within 10 s, the cause named with its rank.
# Usage: rank_fault.sh <mpirun> <rank_fault_probe> [mpirun options...]
set -uo pipefail
mpirun=$1 probe=$2
shift 2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
start=$(date +%s%N)
err=$(timeout 60 "$mpirun" "$@" -np 2 "$probe" 2>&1 >/dev/null)
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "exit $rc after $ms ms"
(( rc != 0 && rc != 124 )) || { echo "FAIL: exit code $rc (124: hung until the timeout)"; exit 1; }
echo "$err" | grep -q "rank 1 of 2: rank_fault_probe: error: injected failure on this rank" ||
  { echo "FAIL: no line naming rank 1 and the cause:"; echo "$err"; exit 1; }
(( ms < 10000 )) || { echo "FAIL: took $ms ms"; exit 1; }
echo "rank fault: the job ended as it should"
