#!/usr/bin/env bash
# Mutation check: each tests/mutations/NAME.patch removes one mechanism; its "# claims:" line
# names the tests (ctest names) and `ncssl theory phenomena` rows ("phenomena:4,12") that claim
# that mechanism. For each patch this applies it to a scratch copy of the working tree, rebuilds
# incrementally, and asserts that every claimed test FAILS and every claimed row is NOT
# REPRODUCED; then it reverts the patch. First it checks that all claims pass unmutated.
# Not part of CI (CPU-heavy: one full build, then an incremental one per patch).
#   tests/mutations/run.sh [NAME...]     (JOBS=N for parallel builds; default 1)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JOBS=${JOBS:-1}
S=$(mktemp -d /tmp/ncssl-mutations.XXXXXX)
trap 'rm -rf "$S"' EXIT
mkdir -p "$S/src"
(cd "$ROOT" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -x -C "$S/src"
echo "scratch copy in $S; building (-j$JOBS)"
cmake -S "$S/src" -B "$S/build" -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build "$S/build" -j"$JOBS" >"$S/build.log" 2>&1 || { tail -20 "$S/build.log"; exit 1; }

patches=()
if [ $# -gt 0 ]; then for n in "$@"; do patches+=("$ROOT/tests/mutations/$n.patch"); done
else patches=("$ROOT"/tests/mutations/*.patch); fi

claims_of() { sed -n 's/^# claims: //p' "$1"; }
# check CLAIM: 0 when it passes (test green / every listed row reproduced), 1 when it fails.
check() {
  local c=$1
  if [[ $c == phenomena:* ]]; then
    local out rows r bad=0
    out=$("$S/build/ncssl" theory phenomena 2>&1)
    IFS=, read -ra rows <<<"${c#phenomena:}"
    for r in "${rows[@]}"; do
      printf '%s\n' "$out" | grep -qE "^ *$r\. .*NOT REPRODUCED *$" && bad=1
    done
    return $bad
  fi
  (cd "$S/build" && ctest -R "^$c\$" >/dev/null 2>&1)
}
targets_of() { # the build targets a claim needs
  local c
  for c in $(claims_of "$1"); do [[ $c == phenomena:* || $c == cli_* ]] || echo "$c"; done
  echo ncssl
}

fails=0
echo "== unmutated: every claim must pass"
declare -A seen
for p in "${patches[@]}"; do
  for c in $(claims_of "$p"); do
    [ -n "${seen[$c]:-}" ] && continue
    seen[$c]=1
    if check "$c"; then echo "  pass   $c"; else echo "  FAILS  $c (unmutated!)"; fails=$((fails+1)); fi
  done
done
for p in "${patches[@]}"; do
  name=$(basename "$p" .patch)
  echo "== $name: $(sed -n '1s/^# //p' "$p")"
  if ! (cd "$S/src" && patch -p1 --quiet <"$p"); then
    echo "  patch does not apply"; fails=$((fails+1)); continue
  fi
  if ! cmake --build "$S/build" -j"$JOBS" --target $(targets_of "$p") >"$S/build.log" 2>&1; then
    echo "  build failed:"; tail -5 "$S/build.log"; fails=$((fails+1))
  else
    for c in $(claims_of "$p"); do
      if check "$c"; then echo "  MISSED $c (still passes)"; fails=$((fails+1))
      else echo "  caught $c"; fi
    done
  fi
  (cd "$S/src" && patch -p1 -R --quiet <"$p")
done
# Leave the scratch build consistent with the tree (not needed: it is removed on exit).
echo "mutations: ${#patches[@]} patches, $fails problems"
[ "$fails" -eq 0 ]
