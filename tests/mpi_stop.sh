#!/usr/bin/env bash
# SIGTERM to one rank of `mpirun -np 2 ncssl train` (the way a scheduler's signal reaches the
# processes themselves): the ranks agree to stop after the same step, rank 0 writes the checkpoint
# and says how to go on, once; the job exits 143; --resume continues as 1 rank and as 2 ranks.
# Rank 1 is the one signalled, so rank 0 learns of the stop only through the ranks' agreement.
# (SIGTERM to mpirun itself: Open MPI 4 gives the ranks about a second before SIGKILL, so the
# outcome depends on the step's length: docs/distributed.md.)
set -u
NCSSL=$1 MPIEXEC=$2
# (leak check off under the sanitizer build: see mpi_train.sh)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-mpi-stop.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
MPI=(timeout 180 "$MPIEXEC" --allow-run-as-root --oversubscribe -np 2)
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
run() { # run LOG COMMAND...: runs quietly, the output kept in $T/LOG
  local log=$1; shift
  "$@" >"$T/$log" 2>&1 || { echo "FAIL: $* exited $? ($(tail -3 "$T/$log"))"; fails=$((fails+1)); }
}
steps() { grep -o '"type": "step", "step": [0-9]*' "$T/s/metrics.jsonl" | sed 's/.*: //'; }

# No periodic checkpoint: the one found after the stop is the stop's own.
K=(--width 8 --proj-hidden 32 --proj-out 16 --pred-hidden 32 --batch 32 --subset 4096
   --threads 1 --loader-threads 1 --checkpoint-every 0 --max-steps 100)
"${MPI[@]}" "$NCSSL" train "${K[@]}" --out "$T/s" >"$T/s.out" 2>"$T/s.err" &
job=$!
# Wait for the second step record (not a fixed time: the machine may be slow), then find rank 1
# by its environment.
victim=""
for _ in $(seq 1 1200); do
  if grep -q '"type": "step", "step": 2,' "$T/s/metrics.jsonl" 2>/dev/null; then
    for p in $(pgrep -f "ncssl train .*--out $T/s( |\$)"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
    done
    break
  fi
  sleep 0.1
done
check "found rank 1 after its second step" test -n "$victim"
[ -n "$victim" ] && kill -TERM "$victim"
wait "$job"
rc=$?
check "SIGTERM to rank 1: the job exits 143 (got $rc)" test "$rc" -eq 143
at=$(steps | tail -1)
check "stopped before the end (at step ${at:-none} of 100)" test "${at:-100}" -lt 100
check "one line, from rank 0: where it stopped, the checkpoint, how to go on ($(cat "$T/s.err"))" \
  test "$(grep -c '^ncssl: ' "$T/s.err")" -eq 1 -a \
  "$(grep -c "^ncssl: SIGTERM: stopped at step $at of 100; the checkpoint at step $at is saved; continue with: ncssl train --resume $T/s\$" "$T/s.err")" -eq 1
check "the checkpoint was written at the stop" test -f "$T/s/checkpoint.safetensors"

# --resume reads the checkpoint: as 1 rank, then as 2 ranks, each two steps further.
run r1.log "$NCSSL" train --resume "$T/s" --max-steps $((at + 2))
check "resumed as 1 rank: done at step $((at + 2))" grep -q "done: $((at + 2)) steps" "$T/r1.log"
run r2.log "${MPI[@]}" "$NCSSL" train --resume "$T/s" --max-steps $((at + 4))
check "resumed as 2 ranks: done at step $((at + 4))" grep -q "done: $((at + 4)) steps" "$T/r2.log"
check "one step record for each step 1..$((at + 4)), none repeated or lost" \
  test "$(steps | tr '\n' ' ')" = "$(seq 1 $((at + 4)) | tr '\n' ' ')"

echo "$((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
