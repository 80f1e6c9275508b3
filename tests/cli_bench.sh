#!/usr/bin/env bash
# bench step: --in-channels reaches the network (a one-channel stem does a third of the first
# convolution's work of a three-channel one), the JSON names it, bad values are usage errors;
# --precision reaches the convolutions (tf32, the default, runs the layers where Winograd pays
# on it, where oneDNN has Winograd kernels: AVX-512; fp32 never does) and the JSON counts them;
# NCSSL_LAYOUT=planar turns the channel-blocked feature maps off; Winograd through SGEMM stands in
# where oneDNN has no Winograd kernels.
set -u
NCSSL=$1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
run() { "$NCSSL" bench step --width 4 --image 8 --batch 4 --steps 1 --warmup 0 --json "$@"; }
field() { grep -oE "\"$1\": [0-9.e+-]+" | awk '{print $2}'; }
j1=$(run --in-channels 1) || fail "bench step --in-channels 1 exited $?"
j3=$(run --in-channels 3) || fail "bench step --in-channels 3 exited $?"
echo "$j1" | grep -q '"in_channels": 1' || fail "JSON lacks in_channels 1: $j1"
echo "$j3" | grep -q '"in_channels": 3' || fail "JSON lacks in_channels 3: $j3"
f1=$(echo "$j1" | field gflop_per_step)
f3=$(echo "$j3" | field gflop_per_step)
awk -v a="$f1" -v b="$f3" 'BEGIN {exit !(b > a && a > 0)}' ||
  fail "GFLOP/step with 1 channel ($f1) not below 3 channels ($f3)"
err=$("$NCSSL" bench step --in-channels 4 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "--in-channels 4 exited $rc, expected 2"
echo "$err" | grep -q -- '--in-channels' || fail "--in-channels 4: error does not name the flag: $err"
# width 32, 32x32, batch 8: the four 32-channel 32x32 layers and the three stride-1 64-channel
# 16x16 ones (128 tiles) qualify
wrun() { "$NCSSL" bench step --width 32 --image 32 --batch 8 --steps 1 --warmup 0 --json "$@"; }
count() { grep -oE "\"$1\": [0-9]+" | tail -1 | awk '{print $2}'; }
jt=$(wrun) || fail "bench step (tf32) exited $?"
jf=$(wrun --precision fp32) || fail "bench step --precision fp32 exited $?"
wt=$(echo "$jt" | count winograd); wf=$(echo "$jf" | count winograd)
[ "$wf" = 0 ] || fail "--precision fp32 ran $wf Winograd convolutions: $jf"
has_avx512=1 # oneDNN's avx512_core: all four
for f in avx512f avx512bw avx512vl avx512dq; do grep -qw "$f" /proc/cpuinfo || has_avx512=0; done
if echo "$jt" | grep -q '"sgemm_backend": "oneDNN"' && [ "$has_avx512" -eq 1 ]; then
  [ "$wt" = 7 ] || fail "tf32 ran ${wt:-no} Winograd convolutions, expected 7: $jt"
  [ "$(echo "$jt" | field loss)" != "$(echo "$jf" | field loss)" ] ||
    fail "tf32 and fp32 computed the same loss bit for bit: was Winograd used?"
else
  echo "cli_bench: no oneDNN Winograd on this build or CPU; tf32 = fp32 checked only"
  [ "$wt" = 0 ] || fail "Winograd without AVX-512 or oneDNN: $jt"
fi
# Where oneDNN has no Winograd kernels (below AVX-512; ONEDNN_MAX_CPU_ISA=AVX2 makes this CPU one)
# Winograd through SGEMM runs instead, at other roundings than direct kernels: the same seven
# layers and the three 128-channel 8x8 ones (32 tiles: worth it there, not for oneDNN's);
# NCSSL_WINOGRAD=gemm chooses it on any CPU, NCSSL_WINOGRAD=off nowhere.
if echo "$jt" | grep -q '"sgemm_backend": "oneDNN"'; then
  ja=$(ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 wrun) || fail "bench step on AVX2 exited $?"
  jg=$(NCSSL_WINOGRAD=gemm wrun) || fail "bench step NCSSL_WINOGRAD=gemm exited $?"
  jo=$(NCSSL_WINOGRAD=off wrun) || fail "bench step NCSSL_WINOGRAD=off exited $?"
  for j in "$ja" "$jg"; do
    [ "$(echo "$j" | count winograd)" = 0 ] && [ "$(echo "$j" | count winograd_gemm)" = 10 ] ||
      fail "not 10 convolutions as Winograd through SGEMM: $j"
    echo "$j" | grep -qE '"loss": -?[0-9]' || fail "Winograd through SGEMM: no finite loss: $j"
  done
  [ "$(echo "$jg" | field loss)" != "$(echo "$jf" | field loss)" ] ||
    fail "NCSSL_WINOGRAD=gemm computed fp32's loss bit for bit: was it used?"
  [ "$(echo "$jo" | count winograd)" = 0 ] && [ "$(echo "$jo" | count winograd_gemm)" = 0 ] ||
    fail "NCSSL_WINOGRAD=off ran Winograd: $jo"
fi
# feature maps: channel-blocked where oneDNN plans the convolutions (all 40 of width 32's), all
# planar under NCSSL_LAYOUT=planar, and the JSON says so
fmap() { grep -oE "\"$1\": [0-9]+" | tail -1 | awk '{print $2}'; }
jp=$(NCSSL_LAYOUT=planar wrun --precision fp32) || fail "bench step NCSSL_LAYOUT=planar exited $?"
[ "$(echo "$jp" | fmap blocked)" = 0 ] || fail "NCSSL_LAYOUT=planar kept blocked maps: $jp"
[ "$(echo "$jp" | fmap planar)" = 40 ] || fail "NCSSL_LAYOUT=planar: not 40 planar maps: $jp"
if echo "$jf" | grep -q '"sgemm_backend": "oneDNN"'; then
  [ "$(echo "$jf" | fmap blocked)" = 40 ] || fail "width 32: not 40 blocked maps: $jf"
  [ "$(echo "$jp" | field loss)" != "$(echo "$jf" | field loss)" ] ||
    fail "blocked and planar maps computed the same loss bit for bit: were the maps blocked?"
else
  [ "$(echo "$jf" | fmap blocked)" = 0 ] || fail "blocked maps without oneDNN: $jf"
fi
# without oneDNN plans (NCSSL_CONV=im2col) the maps fall back to planar and the loss stays finite
ji=$(NCSSL_CONV=im2col run) || fail "bench step NCSSL_CONV=im2col exited $?"
[ "$(echo "$ji" | fmap blocked)" = 0 ] || fail "NCSSL_CONV=im2col kept blocked maps: $ji"
echo "$ji" | grep -qE '"loss": -?[0-9]' || fail "NCSSL_CONV=im2col: no finite loss: $ji"
# --precision bf16: oneDNN's bf16 kernels on the 3×3 layers of 16+ input channels (16 of the 20
# at width 32: not the stem, not the three 1×1 shortcuts) where the CPU has them; refused with one
# line where it has none (ONEDNN_MAX_CPU_ISA hides them)
if grep -qw avx512_bf16 /proc/cpuinfo && echo "$jf" | grep -q '"sgemm_backend": "oneDNN"'; then
  jb=$(wrun --precision bf16) || fail "bench step --precision bf16 exited $?"
  [ "$(echo "$jb" | count onednn_bf16)" = 16 ] || fail "bf16: not 16 bf16 convolutions: $jb"
  awk -v a="$(echo "$jb" | field loss)" -v b="$(echo "$jf" | field loss)" \
    'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d > 0 && d < 0.05 * b)}' ||
    fail "bf16 loss $(echo "$jb" | field loss) not within 5% of fp32's (and not equal)"
else
  echo "cli_bench: no bf16 kernels on this CPU or build; bf16 refusal checked only"
fi
err=$(ONEDNN_MAX_CPU_ISA=AVX512_CORE "$NCSSL" bench step --precision bf16 --width 4 --image 8 \
  --batch 4 --steps 1 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- '--precision bf16' ||
  fail "bf16 without bf16 kernels: exit $rc (expected 2, one line naming --precision bf16): $err"
# bench eigh: the CPU's LAPACKE timed; a GPU's two solvers only with a GPU; bad values refused
je=$("$NCSSL" bench eigh --dim 32 --rounds 3 --json) || fail "bench eigh exited $?"
awk -v t="$(echo "$je" | field cpu_ms)" 'BEGIN {exit !(t > 0)}' || fail "bench eigh: no cpu_ms: $je"
echo "$je" | grep -q '"dim": 32' || fail "bench eigh: --dim did not reach it: $je"
err=$("$NCSSL" bench eigh --dim 1 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] && echo "$err" | grep -q -- '--dim' || fail "bench eigh --dim 1: exit $rc, $err"
if [ -z "${NCSSL_TEST_HAS_GPU:-}" ]; then
  err=$("$NCSSL" bench eigh --device cuda 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq 1 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] ||
    fail "bench eigh --device cuda without a GPU: exit $rc (expected 1, one line): $err"
fi
[ "$fails" -eq 0 ] && echo "cli_bench: all passed"
exit $((fails > 0))
