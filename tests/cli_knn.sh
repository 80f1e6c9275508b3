#!/usr/bin/env bash
# `ncssl train --knn-every N`: "knn" records every N steps and at the last step (bank and query
# sizes as asked, accuracy a fraction), training unchanged by it (the same backbone bytes as a run
# without), continued on --resume with none repeated, drawn by `ncssl report`.
set -u
NCSSL=$1
fails=0; checks=0
T=$(mktemp -d /tmp/ncssl-cli-knn.XXXXXX)
trap 'rm -rf "$T"' EXIT
check() { # check DESCRIPTION command...
  local what=$1; shift
  checks=$((checks+1))
  if ! "$@"; then echo "FAIL: $what"; fails=$((fails+1)); fi
}
SMALL=(--width 4 --proj-hidden 32 --proj-out 16 --batch 16 --subset 64 --threads 1
  --loader-threads 1)
KNN=(--knn-every 3 --knn-bank 50 --knn-queries 100 --knn-k 20)
"$NCSSL" train "${SMALL[@]}" "${KNN[@]}" --out "$T/a" >"$T/out" 2>&1
check "train with --knn-every: $(tail -n 1 "$T/out")" grep -q '^done: 4 steps' "$T/out"
"$NCSSL" train "${SMALL[@]}" --out "$T/b" >/dev/null 2>&1
knn_steps() { grep '"type": "knn"' "$1/metrics.jsonl" | sed -E 's/.*"step": ([0-9]+).*/\1/' | tr '\n' ' '; }
check "knn records at steps 3 and 4 (the last): $(knn_steps "$T/a")" test "$(knn_steps "$T/a")" = "3 4 "
check "bank, queries, k as asked" grep -q '"knn_k": 20, "bank": 50, "queries": 100' "$T/a/metrics.jsonl"
check "accuracy a fraction" awk '/"type": "knn"/ { v = $0; sub(/.*"knn_top1": /, "", v); sub(/,.*/, "", v);
  if (!(v >= 0 && v <= 1)) exit 1 }' "$T/a/metrics.jsonl"
check "no knn records without the flag" bash -c "! grep -q '\"knn\"' '$T/b/metrics.jsonl'"
check "training unchanged by the monitor" cmp -s "$T/a/backbone.safetensors" "$T/b/backbone.safetensors"
"$NCSSL" train --resume "$T/a" --epochs 2 >/dev/null 2>&1
check "resumed: records at 3 4 6 8: $(knn_steps "$T/a")" test "$(knn_steps "$T/a")" = "3 4 6 8 "
"$NCSSL" report "$T/a" >/dev/null 2>&1
check "report draws it" grep -q 'report-figures/knn_online.png' "$T/a/report.html"
check "its PNG exists" test -s "$T/a/report-figures/knn_online.png"
echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
