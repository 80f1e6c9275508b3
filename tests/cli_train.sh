#!/usr/bin/env bash
# `ncssl train` contract on a tiny network and the first images of Fashion-MNIST: the run
# directory's files, --config with command-line overrides, --resume continuing to the same
# weights, usage errors naming the flag, a refused architecture change, the NaN stop, and the
# collapse warning of SimSiam without stop-gradient.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
TINY=(--width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 96 --threads 1 --loader-threads 1)
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc
  out=$("$NCSSL" "$@" 2>"$T/err"); rc=$?
  local err; err=$(cat "$T/err")
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: ncssl $* exited $rc, expected $code (stderr: $err)"; fails=$((fails+1)); return
  fi
  if [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$err" | grep -qE -- "$pat"; then
    echo "FAIL: ncssl $*: output lacks /$pat/: $out $err"; fails=$((fails+1)); return
  fi
  if [ "$code" -eq 2 ] && [ "$(printf '%s' "$err" | wc -l)" -gt 0 ]; then
    echo "FAIL: ncssl $*: more than one error line: $err"; fails=$((fails+1))
  fi
}
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}

expect 0 'usage: ncssl train' -- train --help
expect 0 'directpred' -- train --help
expect 2 '^ncssl: --out: ' -- train "${TINY[@]}"
expect 2 "^ncssl: --predictor: " -- train --predictor nope --out "$T/x"
expect 2 "^ncssl: --lr: " -- train --lr -1 --out "$T/x"
expect 2 "^ncssl: --no-stopgrad: needs --method simsiam" -- train --no-stopgrad --out "$T/x"
expect 1 "fashion-mnist|nowhere" -- train --data-dir /nowhere "${TINY[@]}" --out "$T/x"

# A run: its files, its records, plain progress lines (stdout is not a terminal).
expect 0 'done: 8 steps' -- train "${TINY[@]}" --predictor directpred --max-steps 8 --epochs 2 \
  --monitor-every 4 --out "$T/run"
for f in config.txt metrics.jsonl checkpoint.safetensors backbone.safetensors; do
  check "run has $f" test -s "$T/run/$f"
done
check "config.txt lists every option" grep -qE '^predictor = directpred$' "$T/run/config.txt"
check "config.txt has the effective lr" grep -qE '^lr = 0.0299|^lr = 0.03' "$T/run/config.txt"
check "8 step records" test "$(grep -c '"type": "step"' "$T/run/metrics.jsonl")" -eq 8
check "monitor records at steps 4, 6 (the epoch end) and 8" \
  test "$(grep -c '"type": "monitor"' "$T/run/metrics.jsonl")" -eq 3
check "monitor has the W_p alignment" grep -q '"alignment": \[' "$T/run/metrics.jsonl"
check "step records have images_per_s" grep -q '"images_per_s"' "$T/run/metrics.jsonl"
check "step records say how long the step waited for its batch" \
  test "$(grep -c '"input_wait_ms": [0-9]' "$T/run/metrics.jsonl")" -eq 8
expect 0 '^input: the steps waited [0-9.]+ s of [0-9.]+ s for the loader \([0-9.]+%\)' -- \
  train "${TINY[@]}" --max-steps 3 --out "$T/input"

# --config: the same options from a file; a flag overrides the file.
printf 'predictor = directpred\nwidth = 4\nproj-hidden = 32\nproj-out = 16\nbatch = 16\nsubset = 96\nthreads = 1\nepochs = 2\nmax-steps = 3\n' >"$T/cfg"
expect 0 'done: 5 steps' -- train --config "$T/cfg" --max-steps 5 --out "$T/cfgrun"
check "config file values reach config.txt" grep -qE '^width = 4$' "$T/cfgrun/config.txt"
check "the loader's default on the CPU: 1 thread, recorded" \
  grep -qE '^loader-threads = 1$' "$T/cfgrun/config.txt"
printf 'wat = 3\n' >"$T/bad.cfg"
expect 2 "^ncssl: --config: .*'wat' is not a train option" -- train --config "$T/bad.cfg" --out "$T/x"
printf 'width = abc\n' >"$T/bad2.cfg"
expect 2 "^ncssl: --config: .*--width" -- train --config "$T/bad2.cfg" --out "$T/x"

# --resume: 3 steps then resume to 8 gives the same backbone bytes as 8 in one go.
expect 0 'done: 3 steps' -- train "${TINY[@]}" --predictor directpred --max-steps 3 --epochs 2 \
  --monitor-every 4 --out "$T/res"
expect 0 'done: 8 steps' -- train --resume "$T/res" --max-steps 8
check "resumed backbone equals one-go backbone" cmp -s "$T/run/backbone.safetensors" \
  "$T/res/backbone.safetensors"
check "resumed metrics have 8 step records" \
  test "$(grep -c '"type": "step"' "$T/res/metrics.jsonl")" -eq 8
expect 1 'different network' -- train --resume "$T/res" --width 8 --max-steps 9
expect 1 '^ncssl: --resume: .*nowhere' -- train --resume "$T/nowhere"

# NaN: an absurd learning rate stops the run naming the step; the checkpoint stays whole.
expect 1 '^ncssl: step [0-9]+: the .* NaN or Inf' -- train "${TINY[@]}" --lr 1e12 --epochs 3 \
  --checkpoint-every 1 --out "$T/nan"

# Collapse: SimSiam without stop-gradient collapses; the warning and the record flag.
expect 0 'warning: step [0-9]+: the representation is collapsing' -- train "${TINY[@]}" \
  --method simsiam --no-stopgrad --predictor linear --epochs 4 --lr 0.1 --out "$T/collapse"
check "collapse flag recorded" grep -q '"collapse": true' "$T/collapse/metrics.jsonl"

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
