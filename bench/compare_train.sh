#!/usr/bin/env bash
# End to end against PyTorch: a short training run of the demo's recipe (ResNet-18 width 16,
# Fashion-MNIST 28x28x1, batch 128, DirectPred BYOL: rho 0.3, eps 0.1, lr 0.03, momentum 0.9,
# wd 4e-4, EMA 0.996), data loading and augmentation included: `ncssl train --max-steps N` and
# `bench/torch_peer.py train` (the same steps, its augmentation batched in the main process),
# alternated in one session. Reports per side the training loop's images/s (all N steps, the
# first included), the whole process's wall time (start-up, reading the dataset, the run, ncssl's
# final checkpoint) and peak RSS, and the ratios ncssl/torch.
#
# Usage: bench/compare_train.sh [steps=50] [rounds=2] [predictor=directpred]
# Environment: THREADS (2), NCSSL (build/ncssl), PYTHON (/usr/bin/python3), BATCH (128),
#   WIDTH (16), DATA_DIR (the fashion-mnist directory, default /usr/share/datasets/fashion-mnist),
#   PRECISION (tf32: ncssl's default against PyTorch's fp32; bf16: ncssl --precision bf16 against
#   the peer under torch.autocast bf16, channels-last)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
steps=${1:-50}
rounds=${2:-2}
pred=${3:-directpred}
threads=${THREADS:-2}
batch=${BATCH:-128}
width=${WIDTH:-16}
data_dir=${DATA_DIR:-/usr/share/datasets/fashion-mnist}
ncssl=${NCSSL:-$root/build/ncssl}
precision=${PRECISION:-tf32}
peer_args=()
[ "$precision" = bf16 ] && peer_args=(--bf16 --channels-last)
python=${PYTHON:-/usr/bin/python3}
[ -x "$ncssl" ] || { echo "compare_train: no ncssl binary at $ncssl (set NCSSL)" >&2; exit 1; }
[ -f "$data_dir/train-images-idx3-ubyte.gz" ] ||
  { echo "compare_train: no Fashion-MNIST in $data_dir (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null ||
  { echo "compare_train: $python cannot import torch (apt-get install python3-torch)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# GNU time: wall seconds and peak RSS (kB) of a command, its stdout in $tmp/out.
timed() { /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "ResNet-18 width $width, Fashion-MNIST, batch $batch, $pred, $steps steps, $threads threads, $rounds rounds, ncssl --precision $precision${peer_args:+, torch ${peer_args[*]}}"
for r in $(seq "$rounds"); do
  timed "$python" "$here/torch_peer.py" train --width "$width" --batch "$batch" --predictor "$pred" \
    --steps "$steps" --threads "$threads" --data-dir "$data_dir" "${peer_args[@]}"
  ips=$(grep -oE '"images_per_s": [0-9.e+-]+' "$tmp/out" | awk '{print $2}')
  read -r wall kb <"$tmp/time"
  echo "round $r torch: loop $ips images/s, wall $wall s, peak RSS $((kb / 1024)) MB"
  echo "$ips" >>"$tmp/t.ips"; echo "$wall" >>"$tmp/t.wall"; echo "$((kb / 1024))" >>"$tmp/t.rss"
  rm -rf "$tmp/run"
  timed "$ncssl" train --data fashion-mnist --data-dir "$data_dir" --arch resnet18 --stem cifar \
    --width "$width" --method byol --predictor "$pred" --rho 0.3 --eps 0.1 --freq 1 --batch "$batch" \
    --lr 0.03 --momentum 0.9 --wd 4e-4 --ema 0.996 --max-steps "$steps" --threads "$threads" \
    --precision "$precision" --out "$tmp/run"
  # the loop's rate from the per-step records: steps·batch / Σ (batch / images_per_s)
  ips=$(grep '"type": "step"' "$tmp/run/metrics.jsonl" | grep -oE '"images_per_s": [0-9.e+-]+' |
    awk -v b="$batch" '{t += b / $2; n++} END {printf "%.2f", n * b / t}')
  read -r wall kb <"$tmp/time"
  echo "round $r ncssl: loop $ips images/s, wall $wall s, peak RSS $((kb / 1024)) MB"
  echo "$ips" >>"$tmp/o.ips"; echo "$wall" >>"$tmp/o.wall"; echo "$((kb / 1024))" >>"$tmp/o.rss"
done
ti=$(median <"$tmp/t.ips"); oi=$(median <"$tmp/o.ips")
tw=$(median <"$tmp/t.wall"); ow=$(median <"$tmp/o.wall")
echo "median loop images/s: torch $ti, ncssl $oi, ratio ncssl/torch $(awk -v a="$oi" -v b="$ti" 'BEGIN {printf "%.2f", a/b}')"
echo "median wall s: torch $tw, ncssl $ow, speed-up $(awk -v a="$tw" -v b="$ow" 'BEGIN {printf "%.2f", a/b}')"
echo "median peak RSS MB: torch $(median <"$tmp/t.rss"), ncssl $(median <"$tmp/o.rss")"
