#!/usr/bin/env bash
# `ncssl embed` contract: features and labels of a tiny run written as safetensors and .npy (shapes
# and counts in the headers), a metadata-less state dict read with --arch/--width (a wrong width
# named in one line), a flag that disagrees with the metadata refused, the progress line only on
# a terminal; `eval` takes the same metadata-less file.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-embed.XXXXXX)
trap 'rm -rf "$T"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc
  out=$("$NCSSL" "$@" 2>"$T/err"); rc=$?
  local err; err=$(cat "$T/err")
  checks=$((checks+1))
  LAST=$out
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
check() { # check DESCRIPTION command...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
# The safetensors header (after its 8-byte length) and the .npy header, as text.
st_header() { tail -c +9 "$1" | head -c 600 | tr -d '\0'; }
npy_header() { head -c 128 "$1" | tail -c +11; }

"$NCSSL" train --width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 64 --max-steps 2 \
  --threads 1 --loader-threads 1 --out "$T/run" >/dev/null 2>&1
expect 0 'usage: ncssl embed' -- embed --help
expect 2 '^ncssl: missing CKPT' -- embed --out "$T/x.safetensors"
expect 2 '^ncssl: --out: an output file is required' -- embed "$T/run"
expect 2 '^ncssl: --out: the file name must end in .safetensors or .npy' -- \
  embed "$T/run" --out "$T/x.txt"
expect 0 'wrote 300 x 32 features and 300 labels of fashion-mnist/test' -- \
  embed "$T/run" --subset 300 --threads 1 --out "$T/f.safetensors"
check "safetensors shapes" grep -q '"features":{"dtype":"F32","shape":\[300,32\]' \
  <(st_header "$T/f.safetensors")
check "safetensors labels" grep -q '"labels":{"dtype":"I64","shape":\[300\]' \
  <(st_header "$T/f.safetensors")
check "safetensors size" test "$(stat -c %s "$T/f.safetensors")" -gt $((300 * 32 * 4 + 300 * 8))
expect 0 '"n": 200, "dim": 32' -- \
  embed "$T/run" --split train --subset 200 --out "$T/f.npy" --json --threads 1
check "npy features header" grep -q "'descr': '<f4', 'fortran_order': False, 'shape': (200, 32)" \
  <(npy_header "$T/f.npy")
check "npy labels header" grep -q "'descr': '<i8', 'fortran_order': False, 'shape': (200,)" \
  <(npy_header "$T/f.labels.npy")
check "npy sizes" test "$(stat -c %s "$T/f.npy")" -eq $((128 + 200 * 32 * 4)) -a \
  "$(stat -c %s "$T/f.labels.npy")" -eq $((128 + 200 * 8))
# The train split's labels are Fashion-MNIST's first labels (9, 0, 0, 3, ...), not zeros.
check "npy labels" test "$(tail -c +129 "$T/f.labels.npy" | od -An -tu8 -N32 | tr -s ' \n' ' ')" = \
  " 9 0 0 3 "
# The same features from the run's checkpoint (the run directory resolves to its backbone); the
# thread count is the same, so the same bits.
expect 0 '' -- embed "$T/run/checkpoint.safetensors" --subset 300 --threads 1 \
  --out "$T/g.safetensors"
check "backbone and checkpoint agree" cmp -s <(tail -c 40800 "$T/f.safetensors") \
  <(tail -c 40800 "$T/g.safetensors")

# A state dict without metadata (torchvision's names only): "arch" renamed in the header.
sed 's/"arch":/"arcx":/' "$T/run/backbone.safetensors" >"$T/plain.safetensors"
expect 2 'has no architecture metadata .*pass --arch, --stem and --width' -- \
  embed "$T/plain.safetensors" --out "$T/p.safetensors"
expect 0 'wrote 300 x 32' -- embed "$T/plain.safetensors" --arch resnet18 --width 4 --subset 300 \
  --threads 1 --out "$T/p.safetensors"
check "metadata-less file gives the same features" cmp -s <(tail -c 40800 "$T/f.safetensors") \
  <(tail -c 40800 "$T/p.safetensors")
expect 1 'tensor conv1.weight is F32 \[4, 1, 3, 3\], the network needs \[8, 1, 3, 3\]' -- \
  embed "$T/plain.safetensors" --width 8 --out "$T/q.safetensors"
check "nothing written on failure" test ! -e "$T/q.safetensors"
expect 2 '^ncssl: --width: .* was trained with width 4 \(from its metadata\)' -- \
  embed "$T/run" --width 8 --out "$T/q.safetensors"
expect 0 '"width": 4, "in_channels": 1' -- eval "$T/plain.safetensors" --arch resnet18 --width 4 \
  --subset 100 --test-subset 100 --probe-epochs 2 --knn-k 5 --json

# Progress: a line on a terminal (script gives the command one), nothing when piped.
expect 0 '' -- embed "$T/run" --subset 300 --out "$T/f.safetensors"
check "no progress when not a terminal" test ! -s "$T/err"
if command -v script >/dev/null; then
  script -qec "'$NCSSL' embed '$T/run' --subset 300 --out '$T/t.safetensors'" /dev/null \
    >"$T/tty" 2>&1
  check "progress on a terminal" grep -q 'features 300/300 images' "$T/tty"
  script -qec "'$NCSSL' eval '$T/run' --subset 100 --test-subset 50 --probe-epochs 1 --knn-k 5" \
    /dev/null >"$T/tty" 2>&1
  check "eval progress on a terminal" grep -q 'features 150/150 images' "$T/tty"
fi

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
