#!/usr/bin/env bash
# Own data through the CLI: a folder of RGB PNGs (copies of docs/img's figures) trained with
# --image-size/--channels (the checkpoint's metadata shows the size, channels and the preset's
# view size that follow), embedded with the same flags; the flags refused for other datasets.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-folder.XXXXXX)
trap 'rm -rf "$T"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc
  out=$("$NCSSL" "$@" 2>"$T/err"); rc=$?
  local err; err=$(cat "$T/err")
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: ncssl $* exited $rc, expected $code (stderr: $err)"; fails=$((fails+1)); return
  fi
  if [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$err" | grep -qE -- "$pat"; then
    echo "FAIL: ncssl $*: output lacks /$pat/: $out $err"; fails=$((fails+1)); return
  fi
}
check() { # check DESCRIPTION command...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
arch() { tail -c +9 "$1/checkpoint.safetensors" | head -c 4000 | grep -o '"arch":"[^"]*"'; }
for c in a b; do
  mkdir -p "$T/imgs/$c"
  for i in 1 2 3 4; do cp ../docs/img/phase-eta-0.01.png "$T/imgs/$c/$i.png"; done
  cp ../docs/img/phase-eta-1.png "$T/imgs/$c/5.png"
done
SMALL=(--width 4 --proj-hidden 16 --proj-out 8 --pred-hidden 16 --batch 4 --max-steps 1
  --threads 1 --loader-threads 1)
expect 0 'done: 1 steps' -- train --data "folder:$T/imgs" --image-size 28 --channels 1 \
  "${SMALL[@]}" --out "$T/gray28"
check "28 px gray: 1 channel, fashion preset's 28 px views" grep -q '"arch":"resnet18 cifar in1 w4 28x28' <(arch "$T/gray28")
expect 0 'done: 1 steps' -- train --data "folder:$T/imgs" --image-size 32 "${SMALL[@]}" \
  --out "$T/rgb32"
check "32 px RGB: 3 channels (the images'), cifar preset's 32 px views" grep -q '"arch":"resnet18 cifar in3 w4 32x32' <(arch "$T/rgb32")
expect 0 'wrote 10 x 32 features' -- embed "$T/gray28" --data "folder:$T/imgs" --split train \
  --image-size 28 --channels 1 --out "$T/f.safetensors"
expect 2 'the network takes 1 input channels' -- embed "$T/gray28" --data "folder:$T/imgs" \
  --split train --image-size 28 --out "$T/f.safetensors"
expect 2 '^ncssl: --image-size/--channels: only for --data folder:PATH' -- \
  train --image-size 28 "${SMALL[@]}" --out "$T/x"
expect 2 '^ncssl: --image-size/--channels: only for --data folder:PATH' -- \
  embed "$T/gray28" --channels 1 --out "$T/f.safetensors"
echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
