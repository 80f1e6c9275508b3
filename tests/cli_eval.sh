#!/usr/bin/env bash
# `ncssl eval` contract: a tiny trained run and the random-init floor evaluated on a few
# Fashion-MNIST images (JSON keys, accuracies above chance, the architecture read from the
# checkpoint), and refusals: no checkpoint, a damaged one, a channel mismatch.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-eval.XXXXXX)
trap 'rm -rf "$T"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc
  out=$("$NCSSL" "$@" 2>"$T/err"); rc=$?
  local err; err=$(cat "$T/err")
  checks=$((checks+1))
  LAST=$out
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
# above_chance JSON KEY MIN: the value of KEY is a fraction above MIN (10 classes: chance 0.1).
above_chance() {
  checks=$((checks+1))
  local v; v=$(printf '%s' "$1" | sed -E "s/.*\"$2\": ([0-9.eE+-]+).*/\1/")
  if ! awk -v v="$v" -v m="$3" 'BEGIN { exit !(v > m && v <= 1) }'; then
    echo "FAIL: $2 = $v not above chance"; fails=$((fails+1))
  fi
}
SMALL=(--subset 300 --test-subset 200 --probe-epochs 100 --knn-k 20 --threads 1)

"$NCSSL" train --width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 64 --max-steps 2 \
  --threads 1 --loader-threads 1 --out "$T/run" >/dev/null 2>&1
expect 0 'usage: ncssl eval' -- eval --help
expect 2 '^ncssl: missing CKPT' -- eval --data fashion-mnist
expect 0 '"probe_top1": ' -- eval "$T/run" --json "${SMALL[@]}"
above_chance "$LAST" probe_best_top1 0.2
above_chance "$LAST" knn_top1 0.3
expect 0 '"width": 4, "in_channels": 1' -- eval "$T/run/checkpoint.safetensors" --json "${SMALL[@]}"
expect 0 '"n_train": 300, "n_test": 200, "dim": 32' -- eval "$T/run" --json "${SMALL[@]}"
# The floor: the architecture from the run, or from flags.
expect 0 '"random_init": true, "arch": "resnet18", "stem": "cifar", "width": 4' -- \
  eval "$T/run" --random-init --json "${SMALL[@]}"
above_chance "$LAST" knn_top1 0.3
expect 0 '"width": 2' -- eval --random-init --width 2 --json "${SMALL[@]}"
expect 0 'linear probe \(100 epochs\): final [0-9.]+%, best' -- eval "$T/run" "${SMALL[@]}"
# --log appends the result as an eval record the report can draw.
expect 0 '"probe_top1": ' -- eval "$T/run" --json --log "${SMALL[@]}"
checks=$((checks+1))
if ! tail -n 1 "$T/run/metrics.jsonl" | grep -qE '"type": ?"eval".*"knn_top1"'; then
  echo "FAIL: --log did not append an eval record"; fails=$((fails+1))
fi
expect 2 '^ncssl: --log: needs a run directory' -- eval "$T/run" --random-init --log "${SMALL[@]}"
expect 2 '^ncssl: --log: needs a run directory' -- \
  eval "$T/run/backbone.safetensors" --log "${SMALL[@]}"
# Refusals.
expect 1 'nowhere' -- eval "$T/nowhere.safetensors" "${SMALL[@]}"
head -c 100 "$T/run/backbone.safetensors" >"$T/cut.safetensors"
expect 1 'cut.safetensors' -- eval "$T/cut.safetensors" "${SMALL[@]}"
expect 2 'input channels' -- eval --random-init --in-channels 3 "${SMALL[@]}"
expect 2 '^ncssl: --probe-epochs: ' -- eval "$T/run" --probe-epochs 0

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
