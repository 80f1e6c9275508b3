#!/usr/bin/env bash
# The C library from outside: `cmake --install` into a temporary prefix puts ncssl, libncssl.a,
# libncssl.so, the headers and ncssl.pc; examples/train_features.c then builds with
# `pkg-config --cflags --libs ncssl` against that tree only (shared, and static with --static),
# trains three steps and prints features.
set -u
NCSSL=$1
BUILD=$(dirname "$NCSSL")
SRC=$(cd "$(dirname "$0")/.." && pwd)
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
check() { # check DESCRIPTION command...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
if ! command -v pkg-config >/dev/null || ! command -v cc >/dev/null; then
  echo "skipped: pkg-config or cc missing"; exit 77
fi
P=$T/prefix
check "cmake --install" cmake --install "$BUILD" --prefix "$P" >"$T/install.log"
PC=$(find "$P" -name ncssl.pc | head -n 1)
check "ncssl.pc installed" test -n "$PC"
export PKG_CONFIG_PATH=$(dirname "${PC:-/nonexistent/x}")
LIBDIR=$(pkg-config --variable=libdir ncssl)
check "executable" test -x "$P/bin/ncssl"
check "static library" test -f "$LIBDIR/libncssl.a"
check "shared library" test -f "$LIBDIR/libncssl.so"
check "headers" test -f "$P/include/ncssl/train.h" -a -f "$P/include/ncssl/status.h"
under_prefix() { case "$(cd "$1" && pwd -P)" in "$(cd "$P" && pwd -P)"/*) return 0 ;; esac; return 1; }
check "pkg-config's libdir is inside the install prefix (relocatable .pc)" under_prefix "$LIBDIR"
# A sanitizer build's library needs the sanitizer runtime in the example too.
SAN=""
if ldd "$NCSSL" 2>/dev/null | grep -q libasan; then SAN="-fsanitize=address,undefined"; fi
# Only the installed tree: no -I or -L into the source or build directories.
check "example builds (shared)" cc -std=c11 $SAN "$SRC/examples/train_features.c" \
  $(pkg-config --cflags --libs ncssl) -o "$T/ex_shared"
check "example links libncssl.so" bash -c "LD_LIBRARY_PATH='$LIBDIR' ldd '$T/ex_shared' | grep -q 'libncssl.so'"
LD_LIBRARY_PATH=$LIBDIR "$T/ex_shared" "$T/run" >"$T/out" 2>&1
check "example runs (shared): $(tail -n 3 "$T/out" | tr '\n' ' ')" \
  grep -q 'trained 3 steps' "$T/out"
check "example prints 8 x 32 features" grep -q '^features: 8 images x 32$' "$T/out"
check "example builds (static)" cc -std=c11 $SAN "$SRC/examples/train_features.c" \
  $(pkg-config --cflags ncssl) "$LIBDIR/libncssl.a" $(pkg-config --libs-only-other --libs --static ncssl | sed 's/-lncssl//') \
  -o "$T/ex_static"
"$T/ex_static" "$T/run2" >"$T/out2" 2>&1
check "example runs (static)" grep -q 'trained 3 steps' "$T/out2"
check "static and shared agree" cmp -s "$T/out" "$T/out2"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
