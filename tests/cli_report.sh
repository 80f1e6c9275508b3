#!/usr/bin/env bash
# CLI contract of `ncssl report` and `ncssl theory modes|linear --plot`: usage errors exit 2 with
# one line; a whole run gives a page (exit 0) whose images exist; a missing, empty or half-written
# run is reported on the page and in one stderr line each (exit 1 when a run has nothing to plot,
# 0 when it is only partial). Runs are written by hand in the documented format (docs/formats.md).
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-report.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc
  out=$("$NCSSL" "$@" 2>"$T/err"); rc=$?
  err=$(cat "$T/err")
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then fail "ncssl $* exited $rc, expected $code (stderr: $err)"; return; fi
  if [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$err" | grep -qE -- "$pat"; then
    fail "ncssl $*: output lacks /$pat/: $out $err"; return
  fi
  if [ "$code" -eq 2 ] && [ "$(printf '%s' "$err" | wc -l)" -gt 0 ]; then
    fail "ncssl $*: more than one error line: $err"
  fi
}
check() { checks=$((checks+1)); if ! eval "$1"; then fail "$2"; fi; }
# Every <img src> of a page exists and is a PNG; prints how many.
images_ok() {
  local page=$1 dir n=0 src
  dir=$(dirname "$page")
  for src in $(grep -o '<img src="[^"]*"' "$page" | sed 's/<img src="//; s/"$//'); do
    head -c 4 "$dir/$src" 2>/dev/null | grep -q PNG || { echo "missing:$src"; return; }
    n=$((n+1))
  done
  echo "$n"
}

# A run as `ncssl train` logs it: steps, monitors, one eval.
mkrun() { # mkrun DIR STEPS
  mkdir -p "$1"
  printf 'method = byol\npredictor = directpred\nlr = 0.03\n' > "$1/config.txt"
  for s in $(seq 1 "$2"); do
    printf '{"type": "step", "step": %d, "epoch": 1, "loss": %s, "lr": 0.03, "images_per_s": 900}\n' \
      "$s" "$(awk -v s="$s" 'BEGIN{print 2/(1+s)}')"
    if [ $((s % 5)) -eq 0 ]; then
      printf '{"type": "monitor", "step": %d, "epoch": 1, "f_eigvals": [1, 0.5, 0.1], ' "$s"
      printf '"wp_eigvals": [1, 0.7, 0.3], "alignment": [0.9, 0.8, null], "asymmetry": 0.2, '
      printf '"effective_rank": 2.5, "feature_std": 0.4, "collapse_warning": false}\n'
    fi
  done > "$1/metrics.jsonl"
  printf '{"type": "eval", "epoch": 1, "probe_top1": 0.61, "probe_best_top1": 0.62, "knn_top1": 0.55}\n' \
    >> "$1/metrics.jsonl"
}

expect 0 'usage: ncssl report' -- report --help
expect 2 'missing RUN_DIR' -- report
expect 2 '--wat: unknown option' -- report "$T" --wat
expect 2 '--out: missing value' -- report "$T" --out

mkrun "$T/a" 20
expect 0 "report: $T/a/report.html \(9 figures, 0 notices\)" -- report "$T/a"
check "[ \"\$(images_ok $T/a/report.html)\" = 9 ]" "report of a whole run: not every image exists"
check "grep -q '61.00 %' $T/a/report.html" "final probe accuracy missing from the header"
check "grep -q 'predictor</th><td><code>directpred' $T/a/report.html" "config missing"
expect 0 '"figures": \["loss", "lr", "f_eigvals", "wp_eigvals", "alignment", "asymmetry", "effective_rank", "feature_std", "accuracy"\]' -- report "$T/a" --json

# Two runs overlaid into --out (created).
mkrun "$T/b" 10
expect 0 "report: $T/both/report.html" -- report "$T/a" "$T/b" --out "$T/both"
check "[ \"\$(images_ok $T/both/report.html)\" = 9 ]" "overlay: not every image exists"

# Missing run: no page in a directory that does not exist; a page with --out.
expect 1 'run directory not found' -- report "$T/nope"
check "[ ! -e $T/nope ]" "a missing run directory was created"
expect 1 'no page written' -- report "$T/nope"
expect 1 'run directory not found' -- report "$T/nope" --out "$T/nope-out"
check "grep -q 'run directory not found' $T/nope-out/report.html" "missing-run page lacks its notice"
# A missing run beside a good one: the good one is still drawn, exit 1.
expect 1 'ncssl: report: nope: run directory not found' -- report "$T/a" "$T/nope" --out "$T/mixed"
check "[ \"\$(images_ok $T/mixed/report.html)\" = 9 ]" "mixed: the good run's figures are missing"

# Empty directory, empty metrics: a page that says so, exit 1.
mkdir -p "$T/empty"
expect 1 'no metrics.jsonl' -- report "$T/empty"
check "grep -q 'no metrics.jsonl' $T/empty/report.html" "empty-run page lacks its notice"
: > "$T/empty/metrics.jsonl"
expect 1 'no step, monitor or eval records' -- report "$T/empty" --json

# Half-written last line: partial, still drawn, exit 0 with the notice.
mkrun "$T/torn" 10
printf '{"type": "step", "step": 11, "lo' >> "$T/torn/metrics.jsonl"
expect 0 'line 14 is half-written' -- report "$T/torn"
check "grep -q 'half-written' $T/torn/report.html" "torn-run page lacks its notice"

# A page that cannot be written: exit 1 naming the path.
echo x > "$T/file"
expect 1 "$T/file" -- report "$T/a" --out "$T/file/sub"

# A reproduce folder (its marker, no run finished yet): every row missing, no figures; with a
# run beside it both are on the page; two folders on one page, or a bad marker, are refused.
mkdir -p "$T/repro"
printf 'scale = quick\nseeds = 1\n' > "$T/repro/reproduce.txt"
expect 0 "report: $T/repro/report.html \(0 figures, 0 notices\)" -- report "$T/repro"
check "grep -q ': 0 of 56 runs have a result' $T/repro/report.html" "reproduce: run count missing"
check "[ \"\$(grep -c 'missing: no run has a result' $T/repro/report.html)\" = 71 ]" \
  "reproduce: not every row of an empty folder is missing"
check "! grep -q '<h2>Runs</h2>' $T/repro/report.html" "reproduce alone: a Runs section"
expect 0 "report: $T/rb/report.html \(9 figures" -- report "$T/repro" "$T/a" --out "$T/rb"
check "grep -q 'id=\"reproduce\"' $T/rb/report.html && grep -q '<h2>Runs</h2>' $T/rb/report.html" \
  "reproduce beside a run: a section missing"
expect 2 'one reproduce folder per page' -- report "$T/repro" "$T/repro" --out "$T/rr"
printf 'scale = huge\nseeds = 1\n' > "$T/repro/reproduce.txt"
expect 1 "$T/repro/reproduce.txt: no known 'scale'" -- report "$T/repro" --out "$T/rbad"
check "[ ! -e $T/rbad ]" "a page was written for a bad reproduce folder"

# Theory figures beside a run.
expect 0 'verdict' -- theory modes --p0 0.5,0.05 --s0 0.25,0.01 --t-end 20 --plot "$T/modes"
check "[ \"\$(images_ok $T/modes/index.html)\" = 3 ]" "theory modes --plot: images missing"
expect 0 'eigenvalues of F' -- theory linear --steps 200 --every 20 --plot "$T/linear"
check "[ \"\$(images_ok $T/linear/index.html)\" = 5 ]" "theory linear --plot: images missing"
expect 1 '--plot: ' -- theory linear --steps 10 --plot "$T/file/x"
expect 1 '--plot: ' -- theory modes --t-end 1 --plot "$T/file/x"

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
