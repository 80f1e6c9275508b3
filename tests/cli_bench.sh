#!/usr/bin/env bash
# bench step: --in-channels reaches the network (a one-channel stem does a third of the first
# convolution's work of a three-channel one), the JSON names it, bad values are usage errors.
set -u
NCSSL=$1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
run() { "$NCSSL" bench step --width 4 --image 8 --batch 4 --steps 1 --warmup 0 --json "$@"; }
field() { grep -oE "\"$1\": [0-9.e+-]+" | awk '{print $2}'; }
j1=$(run --in-channels 1) || fail "bench step --in-channels 1 exited $?"
j3=$(run --in-channels 3) || fail "bench step --in-channels 3 exited $?"
echo "$j1" | grep -q '"in_channels": 1' || fail "JSON lacks in_channels 1: $j1"
echo "$j3" | grep -q '"in_channels": 3' || fail "JSON lacks in_channels 3: $j3"
f1=$(echo "$j1" | field gflop_per_step)
f3=$(echo "$j3" | field gflop_per_step)
awk -v a="$f1" -v b="$f3" 'BEGIN {exit !(b > a && a > 0)}' ||
  fail "GFLOP/step with 1 channel ($f1) not below 3 channels ($f3)"
err=$("$NCSSL" bench step --in-channels 4 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "--in-channels 4 exited $rc, expected 2"
echo "$err" | grep -q -- '--in-channels' || fail "--in-channels 4: error does not name the flag: $err"
[ "$fails" -eq 0 ] && echo "cli_bench: all passed"
exit $((fails > 0))
