#!/usr/bin/env bash
# ctest-labels: slow
# scripts/gpu-check's own machinery, on the CPU (DEVICE=cpu, this build as BUILD_DIR, a tiny
# network): every part runs and lands in the one JSON summary (the cross tests as skipped, the
# benchmarks with the sizes asked for, the training run's `input:` line), and a part is stopped
# at PART_S and the later ones skipped once BUDGET_S is spent, the summary still printed in time.
# Needs python3 (the script's summary); the PyTorch peer's parts count only where torch imports.
set -u
NCSSL=$1
build=$(cd "$(dirname "$NCSSL")" && pwd)
python=$(command -v python3) || { echo "python3 not found: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
checks=0 failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  checks=$((checks + 1))
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failed=$((failed + 1)); fi
}
# q FILE EXPRESSION: a Python expression on the summary `s` is true
q() { "$python" -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }
gpu_check() { # gpu_check NAME [VAR=VALUE...]: runs the script, its summary in $T/NAME.json
  local name=$1
  shift
  env BUILD_DIR="$build" DEVICE=cpu WIDTH=8 BATCHES=16 STEPS=1 TRAIN_IMAGES=1000 TRAIN_STEPS=12 \
    TORCH_COMPILE=0 PYTHON="$python" LOGS="$T/$name" "$@" bash ../scripts/gpu-check \
    >"$T/$name.json" 2>"$T/$name.err"
}

gpu_check full
check "a run exits 0" test $? -eq 0
check "its stdout is the summary, also in LOGS" cmp -s "$T/full.json" "$T/full/summary.json"
check "the summary names the device" q "$T/full.json" 's["device"] == "cpu"'
check "the ncssl parts passed" q "$T/full.json" \
  'all(p in s["passed"] for p in ["build", "ncssl_b16", "ncssl_cudnn_bn_b16", "eigh",
   "directpred_eigh_host", "directpred_eigh_device", "train_cifar"])'
check "the benchmark ran with WIDTH and BATCHES" q "$T/full.json" \
  's["results"]["ncssl_b16"]["width"] == 8 and s["results"]["ncssl_b16"]["batch"] == 16'
check "the cross tests are skipped, not passed (no GPU)" q "$T/full.json" \
  '"cross_fp32 (no GPU)" in s["skipped"] and not s["gpu_tests_passed"]'
check "the training run's input line and images/s" q "$T/full.json" \
  's["train_cifar"]["input"].startswith("input: the steps waited") and
   s["train_cifar"]["images_per_s"] > 0'
check "nothing is skipped for time" q "$T/full.json" \
  'not [p for p in s["skipped"] if "no GPU" not in p]'
if (cd / && "$python" -c 'import torch' 2>/dev/null); then # (tests/torch/ is no package)
  check "with torch: the peer ran and the ratio is there" q "$T/full.json" \
    '"torch_eager_b16" in s["passed"] and s["ratios"]["ncssl_b16_vs_torch_eager"] > 0'
else
  check "without torch: the peer's parts fail with their error line" q "$T/full.json" \
    '"torch" in s["failed"]["torch_eager_b16"]'
fi

# PART_S 1 stops the benchmark (100 steps: seconds); with BUDGET_S 33 a part starts only in the
# first 3 s, so the later ones are skipped and the summary comes within the budget.
gpu_check short PART_S=1 BUDGET_S=33 STEPS=100
check "a short run exits 0" test $? -eq 0
check "a part past PART_S is stopped (exit 124) and says why" q "$T/short.json" \
  's["failed"]["ncssl_b16"].startswith("exit 124: gpu-check: stopped after 1 s")'
check "the parts after the budget are skipped" q "$T/short.json" \
  '"train_cifar" in s["skipped"] and "eigh" in s["skipped"]'
check "the summary comes within the budget" q "$T/short.json" 's["total_s"] <= 36'

env DEVICE=gpu bash ../scripts/gpu-check >"$T/bad.out" 2>"$T/bad.err"
check "DEVICE other than cuda or cpu: exit 2, one line naming it" \
  test $? -eq 2 -a "$(wc -l <"$T/bad.err")" -eq 1 -a -n "$(grep -F "'gpu'" "$T/bad.err")"
echo "$checks checks, $failed failed"
[ "$failed" -eq 0 ]
