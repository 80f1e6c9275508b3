#!/usr/bin/env bash
# Kill and resume: a small run is SIGKILLed at 12 random moments (half of them while a checkpoint
# is being written: the moment its temporary file appears), resumed after each kill, and finally
# run to the end. Every resume must succeed, and the final checkpoint, backbone and monitor
# records must be byte for byte those of the same run done in one go. The random moments are
# printed (and NCSSL_KILL_SEED repeats them).
set -u
NCSSL=$1
T=$(mktemp -d /tmp/ncssl-cli-kill.XXXXXX)
# only the script itself cleans up: a killed background subshell (a watchdog) runs EXIT traps too
trap '[ "$BASHPID" = "$$" ] && rm -rf "$T"' EXIT
RANDOM=${NCSSL_KILL_SEED:-$$}
echo "kill moments from seed $RANDOM (NCSSL_KILL_SEED)"
# (wide heads: a 4 MB checkpoint keeps the write open long enough for the polling below to land
# a kill in it; with 32-wide heads, 0.7 MB, 1-2 of 6 landed on a fast machine, sometimes none)
RUN=(--width 4 --proj-hidden 4096 --pred-hidden 4096 --proj-out 16 --batch 16 --subset 96 --threads 1 --loader-threads 1
  --epochs 12 --checkpoint-every 2 --monitor-every 4)
fails=0
mkdir -p "$T/one" "$T/kill"
(cd "$T/one" && "$NCSSL" train "${RUN[@]}" --out run >/dev/null 2>&1) || { echo "FAIL: reference run"; exit 1; }

during_write=0
for k in $(seq 12); do
  # Resume once config.txt exists; a kill before it was written leaves nothing to resume.
  if [ -e "$T/kill/run/config.txt" ]; then args=(--resume run); else args=("${RUN[@]}" --out run); fi
  before=$(grep -c '"type": "step"' "$T/kill/run/metrics.jsonl" 2>/dev/null)
  (cd "$T/kill" && exec "$NCSSL" train "${args[@]}" >/dev/null 2>"$T/err") &
  pid=$!
  if [ $((k % 2)) -eq 0 ]; then
    # Once this process has made a step of its own, kill it while a checkpoint is being written
    # (its temporary file exists).
    for i in $(seq 5000); do
      now=$(grep -c '"type": "step"' "$T/kill/run/metrics.jsonl" 2>/dev/null)
      [ "${now:-0}" -gt "${before:-0}" ] && compgen -G "$T/kill/run/*.safetensors.tmp.*" >/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.002
    done
    what="during a write"
  else
    delay=$((200 + RANDOM % 1000))
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    what="after ${delay} ms"
  fi
  kill -KILL "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null; rc=$?
  tmp=$(compgen -G "$T/kill/run/*.tmp.*" | wc -l)
  [ "$tmp" -gt 0 ] && during_write=$((during_write + 1))
  steps=$(grep -c '"type": "step"' "$T/kill/run/metrics.jsonl" 2>/dev/null)
  echo "kill $k $what: exit $rc, $steps step records, $tmp temporary file(s) left"
  if [ "$rc" -ne 137 ] && [ "$rc" -ne 0 ]; then
    echo "FAIL: the run failed before the kill: $(cat "$T/err")"; fails=$((fails + 1))
  fi
done
echo "$during_write of 12 kills left a half-written temporary file"

# The end: resume to completion (a kill may have come after the run finished: that is fine too).
(cd "$T/kill" && "$NCSSL" train --resume run >/dev/null 2>"$T/err") ||
  { echo "FAIL: final resume: $(cat "$T/err")"; fails=$((fails + 1)); }
for f in checkpoint.safetensors backbone.safetensors; do
  cmp -s "$T/one/run/$f" "$T/kill/run/$f" || { echo "FAIL: $f differs from the run done in one go"; fails=$((fails + 1)); }
done
cmp -s <(grep -v '"type": "step"' "$T/one/run/metrics.jsonl") <(grep -v '"type": "step"' "$T/kill/run/metrics.jsonl") ||
  { echo "FAIL: monitor records differ"; fails=$((fails + 1)); }
n1=$(grep -c '"type": "step"' "$T/one/run/metrics.jsonl"); n2=$(grep -c '"type": "step"' "$T/kill/run/metrics.jsonl")
[ "$n1" -eq "$n2" ] || { echo "FAIL: $n2 step records, expected $n1"; fails=$((fails + 1)); }
[ -z "$(compgen -G "$T/kill/run/*.tmp.*")" ] || { echo "FAIL: temporary files left"; fails=$((fails + 1)); }
[ "$during_write" -ge 1 ] || { echo "FAIL: no kill landed during a checkpoint write"; fails=$((fails + 1)); }
echo "$fails failed"
[ "$fails" -eq 0 ]
