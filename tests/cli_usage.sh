#!/usr/bin/env bash
# CLI contract: --help/--version exit 0; bad usage prints one "ncssl: ..." line naming the flag and
# exits 2; the fixed-points command gives the digest's numbers.
set -u
NCSSL=$1
fails=0; checks=0
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local err out rc
  out=$("$NCSSL" "$@" 2>/tmp/ncssl-cli-err.$$); rc=$?
  err=$(cat /tmp/ncssl-cli-err.$$)
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
expect 0 '^ncssl [0-9]' -- --version
expect 0 'usage: ncssl' -- --help
expect 2 "'bogus' is not a command" -- bogus
expect 2 'missing subcommand' -- theory
expect 0 'fixed-points' -- theory --help
expect 0 'default 0.5' -- theory fixed-points --help
expect 2 '--sigma2: expected a number' -- theory fixed-points --sigma2 abc
expect 2 '--sigma2: must be finite' -- theory fixed-points --sigma2 nan
expect 2 '--eta: must be >= 0' -- theory fixed-points --eta -0.1
expect 2 '--tau: missing value' -- theory fixed-points --tau
expect 2 '--wat: unknown option' -- theory fixed-points --wat 3
expect 0 '"p_minus": 0.0544' -- theory fixed-points --tau 1 --sigma2 0.5 --eta 0.05 --json
expect 0 '"p_plus": 0.6122' -- theory fixed-points --tau 1 --sigma2 0.5 --eta 0.05 --json
expect 0 '"eta_c": 0.16666' -- theory fixed-points --tau 1 --sigma2 0.5 --eta 0.05 --json
expect 0 '"p_minus": null, "p_plus": null' -- theory fixed-points --tau 1 --sigma2 0.5 --eta 0.2 --json
rm -f /tmp/ncssl-cli-err.$$
echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
