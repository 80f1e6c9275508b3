#!/usr/bin/env bash
# The PyTorch round trip (tests/torch/roundtrip.py): a torchvision-named state dict into
# `ncssl embed` and `ncssl train --init-from`, and the run's backbone.safetensors back into
# PyTorch, features compared both ways (max abs difference printed and bounded). Skipped (exit 77)
# when Debian's python3-torch is not installed: the project never needs Python to pass.
set -u
NCSSL=$1
PY=${NCSSL_PYTHON:-/usr/bin/python3}
# from / : in tests/ the folder torch/ would pass for the package
if ! (cd / && "$PY" -c 'import torch') 2>/dev/null; then
  echo "skipped: $PY cannot import torch (apt-get install python3-torch)"
  exit 77
fi
T=$(mktemp -d /tmp/ncssl-cli-torch.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$PY" "$(dirname "$0")/torch/roundtrip.py" "$NCSSL" "$T"
