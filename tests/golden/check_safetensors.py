"""Checks ncssl's safetensors files against PyTorch by hand (not run by CI).

    NCSSL_TORCHVISION_EXPORT=/tmp/x build-NAME/test_checkpoint
    /usr/bin/python3 tests/golden/check_safetensors.py /tmp/x

Debian has no `safetensors` Python package, so this reads the format with struct and json,
validating it independently of the C reader (header length, offsets tiling the data, dtype x shape
= bytes), loads resnet18.safetensors into torchvision.models.resnet18 (fc dropped) with
load_state_dict(strict=False), and compares its eval-mode features on the exported input with the
features ncssl computed (check.safetensors).
"""
import json
import struct
import sys

import torch
import torchvision

DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I64": (torch.int64, 8),
          "I32": (torch.int32, 4), "U8": (torch.uint8, 1)}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert 8 + n <= len(raw), "header length beyond the file"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    spans, tensors = [], {}
    for name, e in header.items():
        dtype, size = DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        count = 1
        for d in e["shape"]:
            count *= d
        assert end - begin == count * size, name
        spans.append((begin, end))
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(e["shape"])
    at = 0
    for begin, end in sorted(spans):
        assert begin == at, "gap or overlap"
        at = end
    assert at == len(data), "uncovered bytes"
    return tensors, meta


def main(folder):
    sd, meta = read_safetensors(folder + "/resnet18.safetensors")
    check, _ = read_safetensors(folder + "/check.safetensors")
    print(f"resnet18.safetensors: {len(sd)} tensors, metadata {meta}")
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    print(f"missing (besides num_batches_tracked): {missing}; unexpected: {result.unexpected_keys}")
    assert not missing and not result.unexpected_keys
    model.eval()
    with torch.no_grad():
        y = model(check["input"])
    diff = (y - check["features"]).abs().max().item()
    scale = check["features"].abs().max().item()
    print(f"features {tuple(y.shape)}: max |torch - ncssl| = {diff:.3g} (max |feature| {scale:.3g})")
    assert diff <= 1e-4 * max(1.0, scale)
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
