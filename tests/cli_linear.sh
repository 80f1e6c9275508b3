#!/usr/bin/env bash
# `ncssl theory linear`: usage errors name the flag and exit 2; runs give the paper's numbers
# (Theorem 2's bound, the no-predictor closed form, the Theorem 1 residual); the CSV is complete.
set -u
NCSSL=$1
fails=0; checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out err rc
  out=$("$NCSSL" "$@" 2>"$tmp/err"); rc=$?
  err=$(cat "$tmp/err")
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
# check NAME EXPR: EXPR is an awk condition on the variable v.
check() {
  checks=$((checks+1))
  if ! awk -v v="$2" "BEGIN { exit !($3) }"; then
    echo "FAIL: $1: value $2 does not satisfy $3"; fails=$((fails+1))
  fi
}
json_num() { sed -E "s/.*\"$1\": ([-0-9.eE+]+).*/\1/"; }

L="theory linear"
expect 0 'default 0.4' -- $L --help
expect 2 '^ncssl: --mode: ' -- $L --mode bogus
expect 2 '^ncssl: --n1: ' -- $L --n1 0
expect 2 '^ncssl: --n2: expected an integer' -- $L --n2 x
expect 2 '^ncssl: --sigma2: must be finite' -- $L --sigma2 nan
expect 2 '^ncssl: --wd: must be >= 0' -- $L --wd -1
expect 2 '^ncssl: --rho: ' -- $L --rho 1
expect 2 '^ncssl: --predictor: ' -- $L --predictor magic
expect 2 '^ncssl: --dt: only with --mode flow' -- $L --mode sgd --dt 0.1
expect 2 '^ncssl: --lr: only with --mode sgd' -- $L --lr 0.1
expect 2 '^ncssl: --tau: cannot be combined with --no-ema' -- $L --no-ema --tau 0.5
expect 2 '^ncssl: --no-stopgrad: ' -- $L --no-stopgrad --tau 0.5
expect 2 '^ncssl: --spectrum: expected n1 = 3 values, got 2' -- $L --n1 3 --data additive --spectrum 1,2
expect 2 '^ncssl: --spectrum: only with --data additive' -- $L --spectrum 1,2
expect 2 '^ncssl: --preserve: ' -- $L --data multiplicative --n1 3 --preserve 4
expect 2 '^ncssl: --symmetric-loss: only with --mode sgd' -- $L --symmetric-loss
expect 2 '^ncssl: --wat: unknown option' -- $L --wat
expect 1 '^ncssl: --csv: cannot write' -- $L --steps 3 --csv /nonexistent-dir/x.csv
expect 1 'blew up' -- $L --dt 40 --init-scale 10 --steps 200

# Theorem 2: without stop-gradient ||W(t)|| <= e^{-(sigma^2+eta) t} ||W(0)||.
w0=$("$NCSSL" $L --no-stopgrad --sigma2 0.5 --wd 0.05 --steps 0 --json | json_num w_norm)
w1=$("$NCSSL" $L --no-stopgrad --sigma2 0.5 --wd 0.05 --steps 500 --json | json_num w_norm)
check "Theorem 2 bound" "$w1" "v <= $w0 * exp(-0.55 * 5) * (1 + 1e-9) && v > 0"
# No predictor, W_a = W: W(t) = e^{-(sigma^2+eta) t} W(0) exactly.
w1=$("$NCSSL" $L --predictor identity --no-ema --sigma2 0.5 --wd 0.05 --steps 500 --json | json_num w_norm)
check "no-predictor closed form" "$w1" "(v / ($w0 * exp(-0.55 * 5)) - 1)^2 < 1e-20"
# Theorem 1 residual: tiny under the flow (RK4 error only).
r=$("$NCSSL" $L --wd 0.05 --alpha-p 2 --steps 1000 --dt 0.005 --json | json_num invariant_residual)
check "Theorem 1 residual" "$r" "v < 1e-7"

# The CSV: header plus steps 0, 10, ..., 50; same seed, same file; another seed, another file.
expect 0 'sgd: 50 steps' -- $L --mode sgd --n1 4 --n2 3 --steps 50 --every 10 --csv "$tmp/a.csv" --seed 5
expect 0 '' -- $L --mode sgd --n1 4 --n2 3 --steps 50 --every 10 --csv "$tmp/b.csv" --seed 5
expect 0 '' -- $L --mode sgd --n1 4 --n2 3 --steps 50 --every 10 --csv "$tmp/c.csv" --seed 6
checks=$((checks+1))
if [ "$(wc -l < "$tmp/a.csv")" -ne 7 ] || ! head -1 "$tmp/a.csv" | grep -q '^step,t,f_eig_1,f_eig_2,f_eig_3,wp_eig_1'; then
  echo "FAIL: CSV shape"; fails=$((fails+1))
fi
checks=$((checks+1))
cmp -s "$tmp/a.csv" "$tmp/b.csv" || { echo "FAIL: same seed, different CSV"; fails=$((fails+1)); }
checks=$((checks+1))
cmp -s "$tmp/a.csv" "$tmp/c.csv" && { echo "FAIL: different seeds, same CSV"; fails=$((fails+1)); }
checks=$((checks+1))
if ls "$tmp"/a.csv.* >/dev/null 2>&1; then echo "FAIL: temporary CSV left behind"; fails=$((fails+1)); fi
# Every predictor and data kind runs.
for pr in trained identity symmetric directpred directcopy; do
  expect 0 '"effective_rank"' -- $L --predictor $pr --steps 50 --json
  expect 0 '"effective_rank"' -- $L --mode sgd --predictor $pr --steps 20 --batch 32 --json
done
expect 0 '"asymmetry": 0[,}]' -- $L --predictor symmetric --tau 0.8 --steps 100 --json
expect 0 'flow' -- $L --data additive --n1 3 --n2 2 --spectrum 2,1,0.5 --noise 0.1,0.2,0.3 --steps 50
expect 0 'flow' -- $L --data multiplicative --n1 4 --n2 2 --preserve 2 --steps 50
expect 0 'sgd' -- $L --mode sgd --symmetric-loss --no-stopgrad --steps 20 --batch 8

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
