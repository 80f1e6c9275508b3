#!/usr/bin/env bash
# The speed matrix against PyTorch: widths 16 and 64, images 28, 32 and 96, 1 and 3 channels,
# batches 32 and 128, predictors mlp and directpred (48 cells). Each cell is bench/compare_torch.sh
# (the two sides alternated, medians of ROUNDS rounds) printed as one Markdown table row: images/s
# of both, the ratio, peak RSS of both, ncssl's share of the same-run SGEMM peak.
#
# Usage: bench/matrix.sh [rounds=2] [steps=2]
# A subset: WIDTHS, IMAGES, CHANNELS_LIST, BATCHES, PREDICTORS (space-separated lists), e.g.
#   WIDTHS=16 IMAGES=28 CHANNELS_LIST=1 bench/matrix.sh
# Other environment as bench/compare_torch.sh (THREADS, PRECISION, NCSSL, PYTHON).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rounds=${1:-2}
steps=${2:-2}
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
  "$(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || (grep -qw avx2 /proc/cpuinfo && echo AVX2 || echo SSE))," \
  "load $(cut -d' ' -f1-3 /proc/loadavg); ncssl --precision ${PRECISION:-tf32}"
echo "| width | image | ch | batch | predictor | ncssl img/s | torch img/s | ratio | ncssl RSS MB | torch RSS MB | SGEMM peak share |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for w in ${WIDTHS:-16 64}; do
  for i in ${IMAGES:-28 32 96}; do
    for c in ${CHANNELS_LIST:-1 3}; do
      for b in ${BATCHES:-32 128}; do
        for p in ${PREDICTORS:-mlp directpred}; do
          WIDTH=$w IMAGE=$i CHANNELS=$c ROW=1 "$here/compare_torch.sh" "$b" "$rounds" "$steps" "$p"
        done
      done
    done
  done
done
