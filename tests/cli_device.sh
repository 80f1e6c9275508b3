#!/usr/bin/env bash
# --device / --precision: a CUDA device that is not there (no GPU, or a build without CUDA) is ONE
# error line naming cuda and exit 1, with nothing written; malformed values exit 2; the CPU
# backend is the default and bench step reports the device it ran on. (Skips the "not there"
# checks when this machine does have a GPU: NCSSL_TEST_HAS_GPU set.)
set -u
NCSSL=$1
fails=0; checks=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out rc lines
  out=$("$NCSSL" "$@" 2>"$tmp/err"); rc=$?
  checks=$((checks+1))
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: ncssl $* exited $rc, expected $code ($(cat "$tmp/err"))"; fails=$((fails+1)); return
  fi
  if [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$(cat "$tmp/err")" | grep -qE -- "$pat"; then
    echo "FAIL: ncssl $*: output lacks /$pat/: $out $(cat "$tmp/err")"; fails=$((fails+1)); return
  fi
  lines=$(wc -l <"$tmp/err")
  if [ "$code" -ne 0 ] && [ "$lines" -ne 1 ]; then
    echo "FAIL: ncssl $*: $lines error lines, expected one"; fails=$((fails+1))
  fi
}
if [ -z "${NCSSL_TEST_HAS_GPU:-}" ]; then
  expect 1 '^ncssl: --device cuda:0: .*(CUDA|cuda)' -- train --device cuda --out "$tmp/run" --max-steps 1
  checks=$((checks+1))
  if [ -e "$tmp/run" ]; then echo "FAIL: train --device cuda wrote $tmp/run"; fails=$((fails+1)); fi
  expect 1 '^ncssl: --device cuda:1: ' -- bench step --device cuda:1 --width 2 --batch 2
  expect 1 '^ncssl: --device cuda:0: ' -- eval --random-init --device cuda
fi
expect 2 "^ncssl: --device: expected cpu, cuda or cuda:N, got 'gpu'" -- bench step --device gpu
expect 2 "^ncssl: --device: expected cpu, cuda or cuda:N, got 'cuda:x'" -- train --device cuda:x --out "$tmp/run2"
expect 2 "^ncssl: --precision: expected tf32, fp32 or bf16, got 'fp16'" -- bench step --precision fp16
# bf16 on a CPU without bf16 kernels (ONEDNN_MAX_CPU_ISA hides them where there are some)
ONEDNN_MAX_CPU_ISA=AVX512_CORE expect 2 '^ncssl: --precision bf16: this CPU has no bf16 convolution kernels' -- bench step --precision bf16
expect 0 '"device": "cpu", "precision": "fp32", "peak_device_mb": 0' -- bench step --device cpu --precision fp32 --width 2 --batch 4 --steps 1 --warmup 0 --json
echo "$((checks-fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
