#!/usr/bin/env bash
# `mpirun -np 2 ncssl eval` and `ncssl embed`: the ranks share the feature passes (whole batches
# each), rank 0 gathers them, probes and writes; the results equal the single-process run's
# exactly (the same JSON, the same file bytes), and a rank whose checkpoint is missing stops the
# job with one error line and a non-zero exit, not a hang; so does a signal to every rank.
set -u
NCSSL=$1 MPIEXEC=$2
# (leak check off under the sanitizer build: see mpi_train.sh)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-mpi-eval.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
# a hang is a failure: every multi-rank command gets a time limit
MPI=(timeout 120 "$MPIEXEC" --allow-run-as-root --oversubscribe -np 2)
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
run() { # run LOG COMMAND...: stdout kept in $T/LOG, stderr in $T/LOG.err
  local log=$1; shift
  "$@" >"$T/$log" 2>"$T/$log.err" ||
    { echo "FAIL: $* exited $? ($(tail -3 "$T/$log.err"))"; fails=$((fails+1)); }
}
errors() { grep -c '^ncssl: ' "$1"; } # error lines of ncssl (not mpirun's banner)

run train.log "$NCSSL" train --width 8 --proj-hidden 32 --proj-out 16 --pred-hidden 32 \
  --batch 32 --subset 256 --threads 1 --loader-threads 1 --max-steps 2 --out "$T/run"
# 600 train images are 10 batches of 64 (5 per rank), 300 test images 5 (3 and 2, the last one
# short): uneven shards and a partial batch.
E=(--subset 600 --test-subset 300 --batch 64 --threads 1 --probe-epochs 30 --knn-k 20 --json)
run e1.json "$NCSSL" eval "$T/run" "${E[@]}"
run e2.json "${MPI[@]}" "$NCSSL" eval "$T/run" "${E[@]}"
check "eval: one JSON line from rank 0 alone" test "$(wc -l <"$T/e2.json")" -eq 1
check "eval: 2 ranks give the same probe and kNN numbers as 1 ($(cat "$T/e1.json") vs
  $(cat "$T/e2.json"))" cmp -s "$T/e1.json" "$T/e2.json"
check "eval: the probe learnt something (not a vacuous match)" \
  grep -q '"probe_best_top1": 0\.[2-9]' "$T/e1.json"
run log.out "${MPI[@]}" "$NCSSL" eval "$T/run" "${E[@]}" --log
check "eval --log: one eval record, appended by rank 0 alone" \
  test "$(grep -c '"type": "eval"' "$T/run/metrics.jsonl")" -eq 1

for ext in safetensors npy; do
  M=(--subset 300 --batch 64 --threads 1)
  run b1.log "$NCSSL" embed "$T/run" "${M[@]}" --out "$T/one.$ext"
  run b2.log "${MPI[@]}" "$NCSSL" embed "$T/run" "${M[@]}" --out "$T/two.$ext"
  check "embed .$ext: 2 ranks write the same bytes as 1" cmp "$T/one.$ext" "$T/two.$ext"
  check "embed .$ext: one summary line, from rank 0" test "$(wc -l <"$T/b2.log")" -eq 1
done
check "embed .npy: the same labels" cmp "$T/one.labels.npy" "$T/two.labels.npy"

# The checkpoint missing on every rank: one line (rank 0's), exit 1.
"${MPI[@]}" "$NCSSL" eval "$T/none" "${E[@]}" >"$T/m.out" 2>"$T/m.err"
rc=$?
check "missing checkpoint on both ranks: exit 1 (got $rc)" test "$rc" -eq 1
check "missing checkpoint on both ranks: one error line" test "$(errors "$T/m.err")" -eq 1
# Missing on rank 1 only (a file its node lacks): rank 1's line, naming it, and exit 1, from
# eval and embed; embed writes nothing.
rank1_lacks() { # COMMAND... with the checkpoint argument CKPT: $T/none on rank 1
  "${MPI[@]}" bash -c 'c=$1; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && c=$2; shift 2
    exec "${@/#CKPT/$c}"' _ "$T/run" "$T/none" "$@"
}
rank1_lacks "$NCSSL" eval CKPT "${E[@]}" >"$T/r.out" 2>"$T/r.err"
rc=$?
check "eval, checkpoint missing on rank 1: exit 1 (got $rc)" test "$rc" -eq 1
check "eval, checkpoint missing on rank 1: one error line, naming rank 1 ($(cat "$T/r.err"))" \
  test "$(errors "$T/r.err")" -eq 1 -a "$(grep -c '^ncssl: rank 1 of 2: ' "$T/r.err")" -eq 1
check "eval, checkpoint missing on rank 1: no result printed" test ! -s "$T/r.out"
rank1_lacks "$NCSSL" embed CKPT --subset 300 --out "$T/r.safetensors" >"$T/r.out" 2>"$T/r.err"
rc=$?
check "embed, checkpoint missing on rank 1: exit 1 (got $rc)" test "$rc" -eq 1
check "embed, checkpoint missing on rank 1: one error line, naming rank 1" \
  test "$(grep -c '^ncssl: rank 1 of 2: ' "$T/r.err")" -eq 1 -a "$(errors "$T/r.err")" -eq 1
check "embed, checkpoint missing on rank 1: nothing written" test ! -e "$T/r.safetensors"

# SIGTERM to both ranks during the feature passes (as a scheduler signals every task): rank 0's
# one line, rank 1 silent, a non-zero exit. The signal is sent once the ranks have agreed on the
# setup (rank 1's standard error is no longer held in a deleted temporary file, but mpirun's pipe)
# and rank 0 catches SIGTERM (/proc/PID/status), not after a fixed time.
Q=(--random-init --width 64 --subset 4000 --test-subset 1000 --threads 1 --probe-epochs 1)
"${MPI[@]}" "$NCSSL" eval "${Q[@]}" >"$T/q.out" 2>"$T/q.err" &
job=$!
r0="" r1=""
for _ in $(seq 1 1200); do
  for p in $(pgrep -f "ncssl eval ${Q[*]}\$"); do
    case $(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep '^OMPI_COMM_WORLD_RANK=') in
      *=0) r0=$p ;;
      *=1) r1=$p ;;
    esac
  done
  caught=$(sed -n 's/^SigCgt:\t*//p' "/proc/${r0:-0}/status" 2>/dev/null)
  [ -n "$r1" ] && [ -n "$caught" ] && (( 0x$caught & 0x4000 )) &&
    readlink "/proc/$r1/fd/2" | grep -q '^pipe:' && break
  sleep 0.1
done
check "found both ranks past the setup, rank 0 catching SIGTERM" test -n "$r0" -a -n "$r1"
kill -TERM $r0 $r1
wait "$job"
rc=$?
check "SIGTERM to both ranks: a non-zero exit (got $rc)" test "$rc" -ne 0
check "SIGTERM to both ranks: one line, rank 0's ($(cat "$T/q.err"))" \
  test "$(errors "$T/q.err")" -eq 1 -a \
  "$(grep -c '^ncssl: stopped by a signal; nothing was written$' "$T/q.err")" -eq 1
check "SIGTERM to both ranks: no result printed" test ! -s "$T/q.out"

echo "$((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
