#!/usr/bin/env bash
# `ncssl train --init-from`: a backbone state dict without metadata (torchvision's names) starts
# the online and target backbones (with --ema 1 the target keeps the file's weights bit for bit);
# a mis-shaped or missing tensor is named in one line; resuming a finished run says so.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-init.XXXXXX)
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
  if [ "$code" -ne 0 ] && [ "$(printf '%s' "$err" | wc -l)" -gt 0 ]; then
    echo "FAIL: ncssl $*: more than one error line: $err"; fails=$((fails+1))
  fi
}
check() { # check DESCRIPTION command...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
differs() { ! cmp -s "$1" "$2"; }
st_tensor() { # st_tensor FILE NAME: the raw bytes of one tensor of a safetensors file
  local hlen offs
  hlen=$(head -c 8 "$1" | od -An -tu8 | tr -d ' ')
  offs=$(tail -c +9 "$1" | head -c "$hlen" | grep -o "\"$2\":{[^}]*}" |
    sed -E 's/.*"data_offsets":\[([0-9]+),([0-9]+)\].*/\1 \2/')
  [ -n "$offs" ] || return 1
  set -- "$1" $offs
  tail -c +$((9 + hlen + $2)) "$1" | head -c $(($3 - $2))
}
SMALL=(--width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 64 --threads 1
  --loader-threads 1 --max-steps 2)

"$NCSSL" train "${SMALL[@]}" --seed 7 --out "$T/src" >/dev/null 2>&1
# A plain state dict: the metadata key renamed, so only the tensors say what it is.
sed 's/"arch":/"arcx":/' "$T/src/backbone.safetensors" >"$T/plain.safetensors"
expect 0 'done: 2 steps' -- train "${SMALL[@]}" --ema 1 --init-from "$T/plain.safetensors" \
  --out "$T/a"
expect 0 'done: 2 steps' -- train "${SMALL[@]}" --ema 1 --out "$T/b"
W=layer4.1.conv2.weight
check "target backbone = the file (--ema 1)" cmp -s <(st_tensor "$T/plain.safetensors" $W) \
  <(st_tensor "$T/a/checkpoint.safetensors" target.backbone.$W)
check "without --init-from the target is not the file" differs <(st_tensor "$T/plain.safetensors" $W) \
  <(st_tensor "$T/b/checkpoint.safetensors" target.backbone.$W)
check "the online network trained from there" differs <(st_tensor "$T/plain.safetensors" $W) \
  <(st_tensor "$T/a/checkpoint.safetensors" online.backbone.$W)
expect 0 '"width": 4' -- eval "$T/a" --subset 100 --test-subset 100 --probe-epochs 2 --knn-k 5 \
  --json --threads 1
# Refusals: another width, a missing tensor; both named.
expect 1 '^ncssl: .*plain.safetensors: tensor conv1.weight is F32 \[4, 1, 3, 3\], the network needs \[8, 1, 3, 3\]' -- \
  train "${SMALL[@]}" --width 8 --init-from "$T/plain.safetensors" --out "$T/c"
sed -e 's/"layer2.0.bn1.running_mean":/"layer2.0.bn1.running_meax":/' \
  -e 's/"crc32:layer2.0.bn1.running_mean":/"crc32:layer2.0.bn1.running_meax":/' "$T/plain.safetensors" \
  >"$T/missing.safetensors"
expect 1 '^ncssl: .*missing.safetensors: tensor layer2.0.bn1.running_mean is missing' -- \
  train "${SMALL[@]}" --init-from "$T/missing.safetensors" --out "$T/d"
expect 1 "^ncssl: .*nope.safetensors" -- train "${SMALL[@]}" --init-from "$T/nope.safetensors" \
  --out "$T/e"
# A finished run resumed: nothing to do, said plainly (not "last loss nan").
expect 0 '^already finished at step 2 ' -- train --resume "$T/a"
check "no NaN summary" bash -c "! '$NCSSL' train --resume '$T/a' | grep -q nan"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
