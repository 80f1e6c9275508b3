#!/usr/bin/env bash
# `ncssl theory phase`: writes STEM.png and STEM.svg (creating the directory), --json lists the
# fixed points in the window with their 2-D stability and the files; bad flags exit 2 naming the
# flag; an unwritable --out exits 1 and leaves nothing behind.
set -u
NCSSL=$1
fails=0; checks=0
tmp=$(mktemp -d /tmp/ncssl-cli-phase.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
run() { # run CODE -- args...: sets $out, $err; checks the exit code
  local code=$1; shift 2
  out=$("$NCSSL" "$@" 2>"$tmp/err"); local rc=$?
  err=$(cat "$tmp/err")
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then fail "ncssl $* exited $rc, expected $code (stderr: $err)"; return 1; fi
  return 0
}
has() { # has TEXT PATTERN WHAT
  checks=$((checks+1))
  printf '%s\n' "$1" | grep -qE -- "$2" || fail "$3: lacks /$2/ in: $1"
}
png_size() { # prints "W H" from the IHDR chunk
  od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'
}

# η = 0.01 (Fig. 3 middle): origin stable, p*₋ saddle, p*₊ stable; the directory is created.
if run 0 -- theory phase --eta 0.01 --grid 10 --trajectories 6 --out "$tmp/new/dir/p" --json; then
  has "$out" '"eta_c": 0.25' "eta_c"
  has "$out" '"p": 0, "s": 0, "stability": "stable"' "origin stable"
  has "$out" '"p": 0.0101020514[0-9]*, "s": [0-9.e-]+, "stability": "saddle"' "p*- saddle"
  has "$out" '"p": 0.989897948[0-9]*, "s": 0.97989794[0-9]*, "stability": "stable"' "p*+ stable"
  has "$out" '"fixed_point_lines": \[\]' "no lines when eta > 0"
  has "$out" "\"files\": \\[\"$tmp/new/dir/p.png\", \"$tmp/new/dir/p.svg\"\\]" "files"
  checks=$((checks+1))
  [ "$(head -c 8 "$tmp/new/dir/p.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "p.png is not a PNG"
  checks=$((checks+1))
  [ "$(png_size "$tmp/new/dir/p.png")" = "900 650" ] || fail "p.png is $(png_size "$tmp/new/dir/p.png")"
  checks=$((checks+1))
  grep -q '<title>(p, s) flow at fixed τ' "$tmp/new/dir/p.svg" || fail "p.svg lacks its title"
fi
# η = 0: lines of fixed points s = 0 and p = τ/(1+σ²); the points on them are half-stable.
if run 0 -- theory phase --eta 0 --sigma2 0.5 --grid 4 --trajectories 2 --size 400,300 --out "$tmp/e0" --json; then
  has "$out" '"fixed_point_lines": \[\{"s": 0\}, \{"p": 0.6666666' "eta=0 lines"
  has "$out" '"stability": "half-stable"' "eta=0 half-stable"
  checks=$((checks+1))
  [ "$(png_size "$tmp/e0.png")" = "400 300" ] || fail "--size 400,300 gave $(png_size "$tmp/e0.png")"
fi
# η = 1 > η_c: the origin alone, stable. A window that excludes it lists no fixed point.
run 0 -- theory phase --eta 1 --grid 4 --trajectories 2 --out "$tmp/e1" --json &&
  has "$out" '"fixed_points": \[\{"p": 0, "s": 0, "stability": "stable"' "eta=1 origin"
run 0 -- theory phase --eta 1 --p-range 0.5,1 --s-range 0.5,1 --grid 4 --trajectories 0 --out "$tmp/w" --json &&
  has "$out" '"fixed_points": \[\]' "window filter"
# Text output names the files.
run 0 -- theory phase --grid 4 --trajectories 1 --out "$tmp/txt" && has "$out" "wrote $tmp/txt.png and $tmp/txt.svg" "text output"

# Usage errors: exit 2, one line naming the flag.
usage() { # usage PATTERN -- args
  local pat=$1; shift 2
  if run 2 -- theory phase --out "$tmp/never" "$@"; then
    has "$err" "$pat" "ncssl theory phase $*"
    checks=$((checks+1))
    [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "more than one error line: $err"
  fi
}
usage '^ncssl: --p-range: expected two numbers' -- --p-range 1
usage '^ncssl: --p-range: expected two numbers A,B with A < B' -- --p-range 2,1
usage '^ncssl: --s-range:' -- --s-range a,b
usage '^ncssl: --grid:' -- --grid 1
usage '^ncssl: --grid:' -- --grid x
usage '^ncssl: --trajectories:' -- --trajectories -3
usage '^ncssl: --tau: ' -- --tau 0
usage '^ncssl: --eta: ' -- --eta -1
usage '^ncssl: --alpha-p: ' -- --alpha-p nan
usage '^ncssl: --size: ' -- --size 10,10
usage '^ncssl: --bogus: unknown option' -- --bogus
checks=$((checks+1))
ls "$tmp"/never* >/dev/null 2>&1 && fail "a usage error wrote files"

# Runtime failure: an --out that cannot be written (even as root) exits 1 naming the path.
if run 1 -- theory phase --grid 4 --trajectories 1 --out /dev/null/sub/p; then
  has "$err" '^ncssl: .*/dev/null' "unwritable --out message"
fi
mkdir -p "$tmp/blocked/p.svg.partial"
if run 1 -- theory phase --grid 4 --trajectories 1 --out "$tmp/blocked/p"; then
  has "$err" "$tmp/blocked/p.svg" "half-written --out message"
  checks=$((checks+1))
  [ -e "$tmp/blocked/p.png" ] && fail "a failed write left p.png"
fi
run 0 -- theory phase --help && has "$out" 'usage: ncssl theory phase' "--help"

echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
