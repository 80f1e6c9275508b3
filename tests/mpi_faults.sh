#!/usr/bin/env bash
# Faults of `mpirun -np 2 ncssl train`: a rank killed mid-run ends the job with a clear message,
# the checkpoint stays valid and --resume finishes the run; usage errors (a global batch the ranks
# cannot split, --sync-bn with --no-sync-bn) come once, from rank 0, exit 2.
set -u
NCSSL=$1 MPIEXEC=$2 BUILD=$3
# Under the sanitizer build (make test-sanitize) the leak check is off for multi-rank runs: Open
# MPI's plugins keep memory until exit and are unloaded before LeakSanitizer reports, so their
# frames cannot be told from ncssl's; address and undefined-behaviour checks stay on, and the
# single-process tests check ncssl's own leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
CMP=$BUILD/st_compare
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-mpi-train.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
MPI=("$MPIEXEC" --allow-run-as-root --oversubscribe -np 2)
TINY=(--width 16 --proj-hidden 32 --proj-out 16 --pred-hidden 32 --batch 32 --subset 256
      --threads 1 --loader-threads 1)
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
run() { # run LOG COMMAND...: runs quietly, the output kept in $T/LOG
  local log=$1; shift
  "$@" >"$T/$log" 2>&1 || { echo "FAIL: $* exited $? ($(tail -3 "$T/$log"))"; fails=$((fails+1)); }
}
losses() { grep -o '"type": "step", "step": [0-9]*, "epoch": [0-9]*, "loss": [-0-9.e]*' "$1" |
  sed 's/.*"loss": //'; }
# close A B REL: every line of files A and B agree to REL relative
close() { paste "$1" "$2" | awk -v r="$3" '{d=$1-$2; if (d<0) d=-d; s=$1<0?-$1:$1;
  if (d > r*s) {print "  " NR ": " $1 " vs " $2; bad=1}} END {exit bad}'; }
differ() { ! close "$@" >/dev/null; }

# Usage errors come once, from rank 0, exit 2.
"${MPI[@]}" "$NCSSL" train "${TINY[@]}" --batch 33 --out "$T/u" >"$T/u.out" 2>"$T/u.err"
rc=$?
check "batch 33 on 2 ranks: exit 2 (got $rc)" test "$rc" -eq 2
check "batch 33 on 2 ranks: one error line naming --batch" \
  test "$(grep -c '^ncssl: --batch: .*2 slices' "$T/u.err")" -eq 1
"${MPI[@]}" "$NCSSL" train "${TINY[@]}" --sync-bn --no-sync-bn --out "$T/u" >/dev/null 2>"$T/u.err"
check "--sync-bn with --no-sync-bn: refused" grep -q '^ncssl: --no-sync-bn: ' "$T/u.err"

# A rank killed mid-run: the job stops with a message naming it, the checkpoint stays valid,
# --resume finishes the run.
K=(--width 8 --proj-hidden 32 --proj-out 16 --pred-hidden 32 --batch 32 --subset 2048
   --threads 1 --loader-threads 1 --checkpoint-every 2 --max-steps 30)
"${MPI[@]}" "$NCSSL" train "${K[@]}" --out "$T/k" >"$T/k.out" 2>"$T/k.err" &
mpirun_pid=$!
victim=""
for _ in $(seq 1 300); do # wait for a checkpoint, then find rank 1
  if [ -f "$T/k/checkpoint.safetensors" ]; then
    for p in $(pgrep -f "ncssl train .*--out $T/k"); do
      if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
        victim=$p
      fi
    done
    [ -n "$victim" ] && break
  fi
  sleep 0.1
done
check "found rank 1 after the first checkpoint" test -n "$victim"
[ -n "$victim" ] && kill -9 "$victim"
wait "$mpirun_pid"
rc=$?
check "killed rank: the job exits non-zero (got $rc)" test "$rc" -ne 0
check "killed rank: the message names the killed process" \
  grep -qiE 'rank 1.*(signal 9|killed)|(signal 9|killed).*rank 1' "$T/k.err" "$T/k.out"
step_at_kill=$(losses "$T/k/metrics.jsonl" | wc -l)
check "killed rank: stopped before the end (at step $step_at_kill)" test "$step_at_kill" -lt 30
run k2.log "${MPI[@]}" "$NCSSL" train --resume "$T/k" --max-steps 30
check "resumed after the kill: done at step 30" grep -q 'done: 30 steps' "$T/k2.log"
check "resumed after the kill: 30 step records" \
  test "$(losses "$T/k/metrics.jsonl" | wc -l)" -eq 30

echo "$((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
