#!/usr/bin/env bash
# Convolutions before and after: `ncssl bench step` with every convolution on im2col + SGEMM
# (NCSSL_CONV=im2col, the engine before oneDNN plans) against the default choice, alternated in
# one session. Prints each run and the median ratio of images/s.
#
# Usage: bench/compare_conv.sh [rounds=3] [bench step options...]
#   e.g. bench/compare_conv.sh 3 --width 16 --image 28 --in-channels 1 --batch 128
# Environment: NCSSL (build/ncssl), THREADS (2).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ncssl=${NCSSL:-$(dirname "$here")/build/ncssl}
rounds=${1:-3}
shift || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "bench step $* --threads ${THREADS:-2}, $rounds rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for mode in im2col auto; do
    out=$(NCSSL_CONV=$mode "$ncssl" bench step --threads "${THREADS:-2}" --json "$@")
    ips=$(echo "$out" | grep -oE '"images_per_s": [0-9.e+-]+' | awk '{print $2}')
    share=$(echo "$out" | grep -oE '"sgemm_peak_share": [0-9.e+-]+' | awk '{printf "%.0f", 100*$2}')
    rss=$(echo "$out" | grep -oE '"peak_rss_mb": [0-9.e+-]+' | awk '{printf "%.0f", $2}')
    echo "round $r $mode: $ips images/s, $share% of the SGEMM peak, peak RSS $rss MB"
    echo "$ips" >>"$tmp/$mode"
  done
done
a=$(median <"$tmp/im2col")
b=$(median <"$tmp/auto")
echo "median images/s: im2col $a, plans $b, ratio $(awk -v a="$b" -v b="$a" 'BEGIN {printf "%.2f", a/b}')"
