#!/usr/bin/env bash
# ctest-labels: slow
# `ncssl reproduce`: --list, usage errors, every scale's runs accepted by `ncssl train`'s checks,
# a clear refusal when the paper's data are missing, and the whole suite end to end at --scale
# quick (every experiment's table and verdicts, ordinary run directories, finished runs not
# rerun, --json, --only).
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-reproduce.XXXXXX)
trap 'rm -rf "$T"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local rc
  "$NCSSL" "$@" >"$T/out" 2>"$T/err"; rc=$?
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: ncssl $* exited $rc, expected $code (stderr: $(tail -3 "$T/err"))"
    fails=$((fails+1)); return
  fi
  if [ -n "$pat" ] && ! cat "$T/out" "$T/err" | grep -qE -- "$pat"; then
    echo "FAIL: ncssl $*: output lacks /$pat/"; fails=$((fails+1)); return
  fi
  if [ "$code" -eq 2 ] && [ "$(wc -l <"$T/err")" -gt 1 ]; then
    echo "FAIL: ncssl $*: more than one error line: $(cat "$T/err")"; fails=$((fails+1))
  fi
}
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}

expect 0 'usage: ncssl reproduce' -- reproduce --help
expect 0 'table3-1layer .* rows' -- reproduce --list
for e in table1 table2 table3-1layer table3-2layer table5 fig6 table6 table7 table8 \
  directpred-vs fig2; do
  check "--list names $e" grep -qE "^  $e " "$T/out"
done
expect 0 'paper  5 seeds' -- reproduce --list
expect 2 '^ncssl: --out: ' -- reproduce
expect 2 "^ncssl: --only: unknown experiment 'nope'" -- reproduce --only table1,nope --out "$T/x"
expect 2 '^ncssl: --scale: ' -- reproduce --scale huge --out "$T/x"
for s in quick small paper; do
  expect 0 "runs .* every run's options accepted" -- reproduce --scale "$s" --dry-run --out "$T/x"
done
check "a dry run writes nothing" test ! -e "$T/x"
expect 1 '^ncssl: --scale paper needs STL-10' -- reproduce --scale paper --data-dir "$T/nowhere" \
  --out "$T/x"

# The whole suite at the smoke scale.
expect 0 '56 runs, 0 already done, 56 to run' -- reproduce --scale quick --out "$T/q" --jobs 2
cp "$T/out" "$T/first"
for e in table1 table2 table3-1layer table3-2layer table5 fig6 table6 table7 table8 \
  directpred-vs fig2; do
  check "table for $e" grep -qE "^== $e: " "$T/first"
done
check "every claim has a verdict" test "$(grep -cE '^     -> (reproduced|not reproduced|undecided)' \
  "$T/first")" -eq 16
check "the paper's numbers are printed" grep -qE 'sym, no EMA, no bias +36.62±1.85' "$T/first"
check "56 run directories with a result" test "$(ls "$T"/q/runs/*/result.txt | wc -l)" -eq 56
run=$(ls -d "$T"/q/runs/predictor_optimal_freq_2-*-s0)
for f in config.txt metrics.jsonl checkpoint.safetensors backbone.safetensors result.txt; do
  check "a run directory has $f" test -s "$run/$f"
done
check "config.txt has the row's options" grep -qE '^predictor = optimal$' "$run/config.txt"
check "config.txt has the scale's options" grep -qE '^width = 4$' "$run/config.txt"
check "metrics.jsonl has the evaluation" grep -q '"type": "eval"' "$run/metrics.jsonl"
check "result.txt has the probe" grep -qE '^probe_best_top1 = [0-9]' "$run/result.txt"
# Finished runs are not rerun, and give the same tables.
expect 0 '56 runs, 56 already done, 0 to run' -- reproduce --scale quick --out "$T/q" --jobs 2
check "a rerun prints the same tables" cmp -s <(sed -n '/^== /,$p' "$T/first") \
  <(sed -n '/^== /,$p' "$T/out")
# A removed result is rerun (and only that one).
rm "$run/result.txt"
expect 0 '56 runs, 55 already done, 1 to run' -- reproduce --scale quick --out "$T/q"
expect 0 '^\{"scale": "quick", "seeds": 1, "runs": 3, "failed": 0, "experiments": \[\{"name": "table8"' \
  -- reproduce --scale quick --out "$T/q" --only table8 --json
check "--json has the claims' verdicts" grep -q '"verdict": "' "$T/out"
check "--json is one line" test "$(wc -l <"$T/out")" -eq 1

echo "cli_reproduce: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
