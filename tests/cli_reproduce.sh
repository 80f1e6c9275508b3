#!/usr/bin/env bash
# ctest-labels: slow
# `ncssl reproduce`: --list, usage errors, every scale's runs accepted by `ncssl train`'s checks,
# a clear refusal when the paper's data are missing, and the whole suite end to end at --scale
# quick (every experiment's table and verdicts, ordinary run directories, finished runs not
# rerun, --json, --only); `ncssl report` on the folder (the Reproduce section with the same
# numbers as --json, Figs 2 and 6, missing runs shown as missing, a malformed result.txt refused
# with no page written).
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
expect 0 '57 runs, 0 already done, 57 to run' -- reproduce --scale quick --out "$T/q" --jobs 2
cp "$T/out" "$T/first"
for e in table1 table2 table3-1layer table3-2layer table5 fig6 table6 table7 table8 \
  directpred-vs fig2; do
  check "table for $e" grep -qE "^== $e: " "$T/first"
done
check "every claim has a verdict" test "$(grep -cE '^     -> (reproduced|not reproduced|undecided)' \
  "$T/first")" -eq 16
check "the paper's numbers are printed" grep -qE 'sym, no EMA, no bias +36.62±1.85' "$T/first"
check "56 run directories and the floor with a result" \
  test "$(ls "$T"/q/runs/*/result.txt | wc -l)" -eq 57
# The random-init floor: the untrained backbone evaluated as the runs are (the scale's 500/200
# images, 2 probe epochs, k 20), the same numbers as `ncssl eval --random-init` gives.
floor=$(ls -d "$T"/q/runs/random_init-*-s0)
check "the floor has a result" grep -qE '^probe_best_top1 = [0-9]' "$floor/result.txt"
check "the floor is printed before the tables" grep -qE \
  '^random-init floor \(the untrained backbone, evaluated as every run\): probe [0-9.]+ ± 0.00, kNN [0-9.]+ \(1 seed\)$' \
  "$T/first"
"$NCSSL" eval --random-init --data fashion-mnist --width 4 --seed 0 --subset 500 --test-subset 200 \
  --probe-epochs 2 --knn-k 20 --threads 1 --json >"$T/eval.json" 2>/dev/null
check "the floor is what eval --random-init measures" awk -v f="$(sed -n \
  's/^probe_best_top1 = //p' "$floor/result.txt")" -v e="$(grep -oE '"probe_best_top1": [0-9.]+' \
  "$T/eval.json" | grep -oE '[0-9.]+$')" 'BEGIN { exit !(e != "" && (f - 100 * e) ^ 2 < 1e-6) }'
run=$(ls -d "$T"/q/runs/predictor_optimal_freq_2-*-s0)
for f in config.txt metrics.jsonl checkpoint.safetensors backbone.safetensors result.txt; do
  check "a run directory has $f" test -s "$run/$f"
done
check "config.txt has the row's options" grep -qE '^predictor = optimal$' "$run/config.txt"
check "config.txt has the scale's options" grep -qE '^width = 4$' "$run/config.txt"
check "metrics.jsonl has the evaluation" grep -q '"type": "eval"' "$run/metrics.jsonl"
check "result.txt has the probe" grep -qE '^probe_best_top1 = [0-9]' "$run/result.txt"
# Finished runs are not rerun, and give the same tables.
expect 0 '57 runs, 57 already done, 0 to run' -- reproduce --scale quick --out "$T/q" --jobs 2
check "a rerun prints the same tables" cmp -s <(sed -n '/^== /,$p' "$T/first") \
  <(sed -n '/^== /,$p' "$T/out")
# A removed result is rerun (and only that one).
rm "$run/result.txt"
expect 0 '57 runs, 56 already done, 1 to run' -- reproduce --scale quick --out "$T/q"
expect 0 '^\{"scale": "quick", "seeds": 1, "runs": 4, "failed": 0, "random_init_floor": \{"n": 1, "probe": [0-9.]+, .*"experiments": \[\{"name": "table8"' \
  -- reproduce --scale quick --out "$T/q" --only table8 --json
check "--json has the claims' verdicts" grep -q '"verdict": "' "$T/out"
check "--json is one line" test "$(wc -l <"$T/out")" -eq 1

cp "$T/out" "$T/repro.json"

# The folder marks its scale; another scale's runs go elsewhere.
check "the folder has its marker" grep -qx 'scale = quick' "$T/q/reproduce.txt"
expect 2 '^ncssl: --out: .* holds the runs of --scale quick' -- reproduce --scale small \
  --out "$T/q" --only table8

# `ncssl report` on the folder: the Reproduce section, the same tables as reproduce --json.
expect 0 "^report: $T/q/report.html \(3 figures, 0 notices\)" -- report "$T/q"
page="$T/q/report.html"
check "the report has the Reproduce section" grep -q '<h2>Reproduce: the paper' "$page"
check "the report counts every run" grep -q ': 56 of 56 runs have a result' "$page"
check "the report shows the random-init floor" \
  grep -qE 'Random-init floor .*probe <b>[0-9.]+ ± 0.00</b>, kNN [0-9.]+ \(1 seed\)' "$page"
check "the report has a table per experiment" test "$(grep -c '<h3 id="exp-' "$page")" -eq 11
check "the report has the paper's numbers" grep -q '<td class="num">36.62±1.85</td>' "$page"
check "the report has the 16 verdicts" test "$(grep -cE '<b class="verdict (yes|no|open)">' \
  "$page")" -eq 16
for f in reproduce-fig2-alignment reproduce-fig2-asymmetry reproduce-fig6; do
  check "the report draws $f" test -s "$T/q/report-figures/$f.png" -a -s "$T/q/report-figures/$f.svg"
  check "the page shows $f" grep -q "<img src=\"report-figures/$f.png\"" "$page"
done
expect 0 '"reproduce": \{"dir": ' -- report "$T/q" --json
table8() { grep -o '{"name": "table8"[^]]*\][^]]*\]}' "$1"; }
check "report --json has reproduce --json's table" test -n "$(table8 "$T/repro.json")" -a \
  "$(table8 "$T/repro.json")" = "$(table8 "$T/out")"

# A malformed result.txt: one error line naming it, exit 1, no page; reproduce runs it again.
echo 'not a key value line' >> "$run/result.txt"
expect 1 "^ncssl: $run/result.txt:[0-9]+: " -- report "$T/q" --out "$T/qpage"
check "one error line" test "$(wc -l <"$T/err")" -eq 1
check "no page written" test ! -e "$T/qpage"
expect 0 '57 runs, 56 already done, 1 to run' -- reproduce --scale quick --out "$T/q"
expect 0 "report: $T/qpage/report.html" -- report "$T/q" --out "$T/qpage"

# An experiment run alone: the other tables' rows are missing, not numbers.
expect 0 '4 runs, 0 already done, 4 to run' -- reproduce --scale quick --out "$T/p" --only table8
expect 0 '\(2 figures, 0 notices\)' -- report "$T/p"
check "a partial folder counts its runs" grep -q ': 3 of 56 runs have a result' "$T/p/report.html"
# table8's 3 runs fill 11 of the 71 rows (its rows recur in other tables); the other 60 are missing.
check "runs not run are missing" test "$(grep -c 'missing: no run has a result' \
  "$T/p/report.html")" -eq 60
check "only the runs that ran have numbers" test "$(grep -c '<td class="num">[0-9.]* ± ' \
  "$T/p/report.html")" -eq 11
check "the runs that ran have numbers" grep -qE 'DirectPred \(freq=5\).*<td class="num">[0-9]+\.[0-9]{2} ±' \
  "$T/p/report.html"

echo "cli_reproduce: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
