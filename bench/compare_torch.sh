#!/usr/bin/env bash
# One BYOL training step, PyTorch (bench/torch_peer.py, Debian's python3-torch) against
# `ncssl bench step`, run alternately in one session so both see the same machine load. Prints
# each run, the medians and the ratio ncssl/torch of images/s (an image = two views through the
# online network forward and backward plus the target forward), each side's peak RSS, and ncssl's
# share of the SGEMM peak measured in the same run.
#
# Usage: bench/compare_torch.sh [batch=128] [rounds=2] [steps=3] [predictor=mlp]
# Environment:
#   WIDTH (64), IMAGE (32), CHANNELS (3)  the network's base width, image side and channels
#   THREADS            threads on both sides (default 2)
#   PRECISION          ncssl's --precision (default tf32, its default: Winograd convolutions where
#                      they pay; fp32: direct convolutions only, the arithmetic PyTorch's CPU uses)
#   NCSSL              the ncssl binary (default: build/ncssl of this repository)
#   PYTHON             the interpreter with torch (default /usr/bin/python3)
#   ROW=1              print only one Markdown table row (bench/matrix.sh uses it)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
batch=${1:-128}
rounds=${2:-2}
steps=${3:-3}
pred=${4:-mlp}
width=${WIDTH:-64}
image=${IMAGE:-32}
channels=${CHANNELS:-3}
threads=${THREADS:-2}
precision=${PRECISION:-tf32}
ncssl=${NCSSL:-$root/build/ncssl}
python=${PYTHON:-/usr/bin/python3}
row=${ROW:-0}
[ -x "$ncssl" ] || { echo "compare_torch: no ncssl binary at $ncssl (set NCSSL)" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null ||
  { echo "compare_torch: $python cannot import torch (apt-get install python3-torch)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Runs a command with GNU time; its stdout goes to $tmp/out, its peak RSS (MB) to stdout.
rss_of() { /usr/bin/time -f '%M' -o "$tmp/rss" "$@" >"$tmp/out"; awk '{printf "%.0f", $1/1024}' "$tmp/rss"; }
field() { grep -oE "\"$1\": [0-9.e+-]+" "$tmp/out" | awk '{print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
say() { [ "$row" = 1 ] || echo "$@"; }

shape=(--width "$width" --image "$image" --in-channels "$channels" --batch "$batch" --predictor "$pred" --steps "$steps")
say "width $width, ${image}x${image}x$channels, batch $batch, predictor $pred, $threads threads, ncssl at $precision, $rounds rounds of $steps timed steps"
for r in $(seq "$rounds"); do
  mb=$(rss_of "$python" "$here/torch_peer.py" step "${shape[@]}" --threads "$threads")
  t=$(field images_per_s)
  say "round $r torch: $t images/s, peak RSS $mb MB"
  echo "$t" >>"$tmp/torch.ips"
  echo "$mb" >>"$tmp/torch.rss"
  mb=$(rss_of "$ncssl" bench step --arch resnet18 --stem cifar "${shape[@]}" --threads "$threads" \
    --precision "$precision" --json)
  o=$(field images_per_s)
  s=$(field sgemm_peak_share)
  say "round $r ncssl: $o images/s, peak RSS $mb MB, $(awk -v s="$s" 'BEGIN {printf "%.0f", 100*s}')% of the SGEMM peak"
  echo "$o" >>"$tmp/ours.ips"
  echo "$mb" >>"$tmp/ours.rss"
  echo "$s" >>"$tmp/ours.share"
done
t=$(median <"$tmp/torch.ips")
o=$(median <"$tmp/ours.ips")
ratio=$(awk -v a="$o" -v b="$t" 'BEGIN {printf "%.2f", a/b}')
share=$(median <"$tmp/ours.share" | awk '{printf "%.0f", 100*$1}')
if [ "$row" = 1 ]; then
  printf '| %s | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s | %s%% |\n' "$width" "$image" \
    "$channels" "$batch" "$pred" "$o" "$t" "$ratio" "$(median <"$tmp/ours.rss")" \
    "$(median <"$tmp/torch.rss")" "$share"
else
  echo "median images/s: torch $t, ncssl $o, ratio ncssl/torch $ratio"
  echo "median peak RSS MB: torch $(median <"$tmp/torch.rss"), ncssl $(median <"$tmp/ours.rss"); ncssl at $share% of the SGEMM peak"
fi
