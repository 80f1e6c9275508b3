#!/usr/bin/env bash
# One BYOL training step, PyTorch (the peer script, Debian's python3-torch) against ncssl, run
# alternately in one session so both see the same machine load. Prints each run, the medians and
# the ratio ours/torch of images/s (an image = two views through the online network forward and
# backward plus the target forward), and each side's peak RSS.
#
# Usage: bench/compare_torch.sh [batch=128] [rounds=2] [steps=3] [predictor=mlp]
# Environment:
#   THREADS            threads on both sides (default 2)
#   NCSSL              the ncssl binary (default: build/ncssl next to this script's repository)
#   NCSSL_TORCH_BENCH  the peer script (default: ../shared/bench/torch_byol_step.py relative to the
#                      repository root)
#   PYTHON             the interpreter with torch (default /usr/bin/python3)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
batch=${1:-128}
rounds=${2:-2}
steps=${3:-3}
pred=${4:-mlp}
threads=${THREADS:-2}
ncssl=${NCSSL:-$root/build/ncssl}
peer=${NCSSL_TORCH_BENCH:-$root/../shared/bench/torch_byol_step.py}
python=${PYTHON:-/usr/bin/python3}
[ -x "$ncssl" ] || { echo "compare_torch: no ncssl binary at $ncssl (set NCSSL)" >&2; exit 1; }
[ -f "$peer" ] || { echo "compare_torch: no peer script at $peer (set NCSSL_TORCH_BENCH)" >&2; exit 1; }

# Peak RSS in MB of a command (GNU time's %M is in kilobytes), its stdout on fd 3.
rss_of() { /usr/bin/time -f '%M' -o "$tmp/rss" "$@" >&3; awk '{printf "%.0f", $1/1024}' "$tmp/rss"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "batch $batch, $threads threads, $rounds rounds of $steps timed steps, predictor $pred"
for r in $(seq "$rounds"); do
  mb=$(THREADS=$threads rss_of "$python" "$peer" "$batch" "$steps" 32 "$pred" 3>"$tmp/torch.out")
  t=$(grep -oE '[0-9.]+ images/s' "$tmp/torch.out" | awk '{print $1}')
  echo "round $r torch: $t images/s, peak RSS $mb MB   ($(cat "$tmp/torch.out"))"
  echo "$t" >>"$tmp/torch.ips"
  echo "$mb" >>"$tmp/torch.rss"
  mb=$(rss_of "$ncssl" bench step --arch resnet18 --stem cifar --batch "$batch" --predictor "$pred" \
    --steps "$steps" --threads "$threads" --json 3>"$tmp/ours.out")
  o=$(grep -oE '"images_per_s": [0-9.e+-]+' "$tmp/ours.out" | awk '{print $2}')
  echo "round $r ncssl: $o images/s, peak RSS $mb MB"
  echo "$o" >>"$tmp/ours.ips"
  echo "$mb" >>"$tmp/ours.rss"
done
t=$(median <"$tmp/torch.ips")
o=$(median <"$tmp/ours.ips")
echo "median images/s: torch $t, ncssl $o, ratio ncssl/torch $(awk -v a="$o" -v b="$t" 'BEGIN {printf "%.2f", a/b}')"
echo "median peak RSS MB: torch $(median <"$tmp/torch.rss"), ncssl $(median <"$tmp/ours.rss")"
