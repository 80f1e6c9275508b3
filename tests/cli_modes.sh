#!/usr/bin/env bash
# `ncssl theory modes`: the digest's numbers through the CLI (JSON keys and values), the CSV
# trajectory (header, rows, atomic write), and bad input: one error line naming the flag, exit 2;
# an unwritable CSV path: exit 1 naming the path, no file left behind.
set -u
NCSSL=$1
fails=0; checks=0
tmp=$(mktemp -d /tmp/ncssl-cli-modes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local err out rc
  out=$("$NCSSL" "$@" 2>"$tmp/err"); rc=$?
  err=$(cat "$tmp/err")
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: ncssl $* exited $rc, expected $code (stderr: $err)"; fails=$((fails+1)); return
  fi
  if [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$err" | grep -qE -- "$pat"; then
    echo "FAIL: ncssl $*: output lacks /$pat/: $out $err"; fails=$((fails+1)); return
  fi
  if [ "$code" -ne 0 ] && [ "$(printf '%s' "$err" | wc -l)" -gt 0 ]; then
    echo "FAIL: ncssl $*: more than one error line: $err"; fails=$((fails+1))
  fi
}
check() { # check DESCRIPTION CONDITION...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
M="theory modes"

expect 0 'default 0.4' -- $M --help
expect 0 '--simsiam' -- $M --help
# Item 5: the invariant and its closed form (corrected sign), 0.182100 at t = 50.
expect 0 '"invariant": 0\.1821003' -- $M --p0 0.1 --s0 0.5 --alpha-p 2 --eta 0.01 --simsiam --t-end 50 --json
expect 0 '"invariant_closed_form": 0\.1821003' -- $M --p0 0.1 --s0 0.5 --alpha-p 2 --eta 0.01 --simsiam --t-end 50 --json
# Item 7: on the parabola, p0 = 0.06 converges to p*+ = 0.61222, p0 = 0.05 collapses.
J=$("$NCSSL" $M --p0 0.06,0.05 --s0 0.0036,0.0025 --tau 1 --sigma2 0.5 --eta 0.05 --t-end 500 --json)
for key in t p s tau invariant invariant_closed_form verdict; do
  check "JSON has key $key" grep -q "\"$key\":" <<<"$J"
done
check "p0=0.06 ends at p*+" grep -qE '"p": 0\.61222[0-9]*, "s": 0\.37481' <<<"$J"
check "p0=0.06 converged, p0=0.05 collapsed" grep -qE '"verdict": "converged".*"verdict": "collapsed"' <<<"$J"
# Item 9: EMA from tau(0) = 0 converges to p = 0.9583, s = 0.9183, tau = 1 (default is EMA).
expect 0 '0\.95825[0-9]* +0\.91825[0-9]* +1\.000000 .*converged' -- $M --p0 0.5,0.3,0.2 --s0 0.25,0.09,0.04 --beta 0.4 --eta 0.04
expect 0 'moving' -- $M --p0 0.5 --s0 0.25 --t-end 5
# Item 6: eta = 0 keeps s(inf) = s0 + (p^2 - p0^2)/alpha_p.
expect 0 '0\.666667 +0\.634444' -- $M --p0 0.1 --s0 0.2 --tau 1 --sigma2 0.5 --eta 0 --t-end 100

# CSV: header, rows at every K steps plus the last, one column triple per mode.
expect 0 '' -- $M --p0 0.5,0.2 --s0 0.25 --steps 25 --every 10 --csv "$tmp/traj.csv"
check "CSV written" test -f "$tmp/traj.csv"
check "CSV header" grep -qx 't,p_1,s_1,tau_1,p_2,s_2,tau_2' "$tmp/traj.csv"
check "CSV rows at steps 0,10,20,25" test "$(wc -l <"$tmp/traj.csv")" -eq 5
check "CSV first row is the start" grep -qx '0,0.5,0.25,0,0.2,0.25,0' "$tmp/traj.csv"
check "CSV last row at t = 0.25" grep -qE '^0\.25,' "$tmp/traj.csv"
check "CSV has 7 columns everywhere" test "$(awk -F, 'NF != 7' "$tmp/traj.csv" | wc -l)" -eq 0
check "no temporary file left" test "$(ls "$tmp" | grep -c 'traj.csv.')" -eq 0
# A failed run leaves an existing CSV untouched and no temporary file.
cp "$tmp/traj.csv" "$tmp/before.csv"
expect 1 'no longer finite' -- $M --p0 50 --s0 50 --simsiam --eta 0 --dt 10 --steps 100 --csv "$tmp/traj.csv"
check "failed run kept the old CSV" cmp -s "$tmp/traj.csv" "$tmp/before.csv"
check "failed run left no temporary file" test "$(ls "$tmp" | grep -c 'traj.csv.')" -eq 0
expect 1 "cannot write '$tmp/no/such/dir/x.csv'" -- $M --csv "$tmp/no/such/dir/x.csv"

# Bad usage: exit 2, one line naming the flag.
expect 2 '--tau: cannot be combined with --simsiam' -- $M --tau 1 --simsiam
expect 2 '--tau0: only applies' -- $M --tau0 0.5 --simsiam
expect 2 '--p0: has 2 values but there are 3 modes' -- $M --p0 0.1,0.2 --s0 1,2,3
expect 2 '--dt: must be > 0' -- $M --dt 0
expect 2 '--dt: must be > 0' -- $M --dt -0.1
expect 2 '--eta: must be finite' -- $M --eta nan
expect 2 '--p0: must be finite' -- $M --p0 0.1,inf
expect 2 '--p0: expected a comma-separated list' -- $M --p0 0.1,,0.2
expect 2 '--s0: must be >= 0' -- $M --s0 -1
expect 2 '--alpha-p: must be > 0' -- $M --alpha-p 0
expect 2 '--steps: give either --steps or --t-end' -- $M --steps 10 --t-end 5
expect 2 '--every: must be >= 1' -- $M --every 0
expect 2 '--tau: must be > 0' -- $M --tau 0
expect 2 '--csv: missing value' -- $M --csv
expect 2 '--bogus: unknown option' -- $M --bogus 1

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
