#!/usr/bin/env bash
# `ncssl train` options reach the training: each changes the trained weights against the same
# run without it (a dropped option leaves them byte-identical), the predictor options of the
# paper's tables are accepted and recorded, --resume of the optimal predictor is bit-identical
# (its cross term E[f_a f^T] is in the checkpoint), and combinations that would be ignored are
# refused with one error line naming the flag.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-wiring.XXXXXX)
trap 'rm -rf "$T"' EXIT
TINY=(--width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 96 --threads 1 --loader-threads 1)
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc err
  out=$("$NCSSL" "$@" 2>"$T/err"); rc=$?
  err=$(cat "$T/err")
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
run() { # run NAME options... : 4 steps of a linear-predictor BYOL run into $T/NAME
  local name=$1; shift
  expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor linear --max-steps 4 --epochs 2 \
    --out "$T/$name" "$@"
}
differs() { # differs NAME: its backbone is not the baseline's
  check "$1 changes the trained backbone" bash -c \
    "! cmp -s '$T/base/backbone.safetensors' '$T/$1/backbone.safetensors'"
}

run base
run same
check "a rerun is byte-identical (so a difference below is the option's)" \
  cmp -s "$T/base/backbone.safetensors" "$T/same/backbone.safetensors"
run alpha_p --alpha-p 4;                  differs alpha_p
run wd_pred --wd-predictor 0.5;           differs wd_pred
run ema_cos --ema 0.5 --ema-cosine
run ema_const --ema 0.5
check "--ema-cosine changes the trained backbone" bash -c \
  "! cmp -s '$T/ema_cos/backbone.safetensors' '$T/ema_const/backbone.safetensors'"
run indep --target-init independent;     differs indep
run sym --symmetric;                     differs sym
expect 0 'done: 4 steps' -- train "${TINY[@]}" --method simsiam --max-steps 4 --out "$T/ss"
expect 0 'done: 4 steps' -- train "${TINY[@]}" --method simsiam --no-stopgrad --max-steps 4 \
  --out "$T/ssng"
check "--no-stopgrad changes the trained backbone" bash -c \
  "! cmp -s '$T/ss/backbone.safetensors' '$T/ssng/backbone.safetensors'"

# The paper's predictor options: accepted, recorded, effective.
expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor mlp --pred-hidden 32 --max-steps 4 \
  --out "$T/mlp"
expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor mlp --pred-hidden 32 --symmetric \
  --max-steps 4 --out "$T/mlpsym"
check "--symmetric changes the two-layer predictor's run" bash -c \
  "! cmp -s '$T/mlp/backbone.safetensors' '$T/mlpsym/backbone.safetensors'"
expect 2 '^ncssl: --eps: ' -- train "${TINY[@]}" --predictor directpred --eps 0 --dp-offset -0.1 \
  --out "$T/x"
expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor directpred --max-steps 4 \
  --dp-offset -0.1 --out "$T/dpneg"
check "config.txt records the negative offset" grep -qE '^dp-offset = -0.1$' "$T/dpneg/config.txt"
expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor directpred --max-steps 4 \
  --out "$T/dpoff"
check "config.txt records dp-offset off" grep -qE '^dp-offset = off$' "$T/dpoff/config.txt"
check "a negative offset is not plain DirectPred" bash -c \
  "! cmp -s '$T/dpoff/backbone.safetensors' '$T/dpneg/backbone.safetensors'"
expect 2 '^ncssl: --dp-offset: ' -- train "${TINY[@]}" --predictor directpred --dp-offset abc \
  --out "$T/x"

# Table 1's optimal predictor; --resume continues it bit-identically.
expect 0 'done: 6 steps' -- train "${TINY[@]}" --predictor optimal --freq 2 --ridge 0.05 \
  --max-steps 6 --epochs 2 --out "$T/opt"
check "config.txt records the ridge" grep -qE '^ridge = 0.050*[0-9]*$' "$T/opt/config.txt"
expect 0 'done: 3 steps' -- train "${TINY[@]}" --predictor optimal --freq 2 --ridge 0.05 \
  --max-steps 3 --epochs 2 --out "$T/optres"
expect 0 'done: 6 steps' -- train --resume "$T/optres" --max-steps 6
check "optimal: resumed backbone equals one-go backbone" \
  cmp -s "$T/opt/backbone.safetensors" "$T/optres/backbone.safetensors"
expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor optimal --ridge 0.5 --max-steps 4 \
  --epochs 2 --out "$T/opt2"
expect 0 'done: 4 steps' -- train "${TINY[@]}" --predictor optimal --ridge 0.05 --max-steps 4 \
  --epochs 2 --out "$T/opt3"
check "--ridge changes the optimal predictor's run" bash -c \
  "! cmp -s '$T/opt2/backbone.safetensors' '$T/opt3/backbone.safetensors'"

# Ignored combinations are refused.
expect 2 '^ncssl: --symmetric: ' -- train --predictor directpred --symmetric --out "$T/x"
expect 2 '^ncssl: --pred-bias: ' -- train --predictor mlp --pred-bias --out "$T/x"
expect 2 '^ncssl: --pred-hidden: ' -- train --predictor linear --pred-hidden 64 --out "$T/x"
expect 2 '^ncssl: --rho: ' -- train --predictor linear --rho 0.5 --out "$T/x"
expect 2 '^ncssl: --freq: ' -- train --predictor mlp --freq 5 --out "$T/x"
expect 2 '^ncssl: --eps: ' -- train --predictor optimal --eps 0.5 --out "$T/x"
expect 2 '^ncssl: --dp-offset: ' -- train --predictor directset --dp-offset 0.1 --out "$T/x"
expect 2 '^ncssl: --alpha: ' -- train --predictor directpred --alpha 2 --out "$T/x"
expect 2 '^ncssl: --ridge: ' -- train --predictor directpred --ridge 0.1 --out "$T/x"
expect 2 '^ncssl: --alpha-p: ' -- train --predictor identity --alpha-p 2 --out "$T/x"
expect 2 '^ncssl: --ema: ' -- train --method simsiam --ema 0.9 --out "$T/x"
expect 2 '^ncssl: --ema-cosine: ' -- train --method simsiam --ema-cosine --out "$T/x"
expect 2 '^ncssl: --target-init: ' -- train --method simsiam --target-init independent --out "$T/x"
expect 2 '^ncssl: --warmup-epochs: ' -- train --warmup-epochs 2 --out "$T/x"
check "refused runs write nothing" test ! -e "$T/x"

echo "cli_wiring: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
