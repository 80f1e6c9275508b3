"""The round trip with PyTorch (run by tests/cli_torch_roundtrip.sh; skipped there without torch).

1. A torchvision-layout ResNet-18 (BasicBlock, the CIFAR stem: 3x3 conv1, no max-pool; base width
   8, one input channel) is written here as a state dict with torchvision's names, fc.* and
   num_batches_tracked included, as `torch.save(model.state_dict())` would hold it.
2. `ncssl embed` of that file (--arch/--stem/--width, no metadata) is compared with the model's
   eval-mode features on the same Fashion-MNIST test images.
3. `ncssl train --init-from` starts a short run from it; the run's backbone.safetensors is loaded
   back into the PyTorch model (load_state_dict, strict apart from fc and num_batches_tracked) and its
   features are compared with `ncssl embed RUN` again.
The model is written out here because torchvision may be absent; its names and shapes are
torchvision's resnet18 with conv1 = Conv2d(c, w, 3, 1, 1) and maxpool = Identity.

    /usr/bin/python3 tests/torch/roundtrip.py NCSSL TMPDIR
"""
import gzip
import json
import os
import struct
import subprocess
import sys

import torch
import torch.nn as nn

WIDTH, IN_CH, N = 8, 1, 64
NCSSL, TMP = sys.argv[1], sys.argv[2]
DATA = os.environ.get("NCSSL_FASHION_DIR", "/usr/share/datasets/fashion-mnist")
BOUND = 1e-4  # max abs difference allowed (float32 round-off of two summation orders)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """torchvision.models.resnet18's names; cifar stem; any width; fc kept for the state dict."""

    def __init__(self, w, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        cin = w
        for i, (cout, stride) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]):
            setattr(self, f"layer{i + 1}",
                    nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.fc = nn.Linear(8 * w, 10)

    def features(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


DT = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(path, tensors):
    """The safetensors format by hand (Debian has no `safetensors` package)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        dt = {"F32": torch.float32, "I64": torch.int64}[e["dtype"]]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=dt).reshape(e["shape"])
    return out


def test_images():
    """The first N test images as `ncssl eval/embed` feed them: x/255, (x - 0.2860) / 0.3530."""
    raw = gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")).read()
    x = torch.frombuffer(bytearray(raw[16:16 + N * 784]), dtype=torch.uint8).float()
    lab = gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")).read()
    y = torch.tensor(list(lab[8:8 + N]), dtype=torch.int64)
    return ((x / 255 - 0.2860) / 0.3530).reshape(N, 1, 28, 28), y


def ncssl(*args):
    subprocess.run([NCSSL, *args], check=True, stdout=subprocess.DEVNULL)


def compare(what, model, x, y, emb_path):
    e = load_safetensors(emb_path)
    with torch.no_grad():
        f = model.eval().features(x)
    assert tuple(e["features"].shape) == (N, 8 * WIDTH), e["features"].shape
    assert torch.equal(e["labels"], y), "labels differ"
    diff = (e["features"] - f).abs().max().item()
    scale = f.abs().max().item()
    print(f"{what}: max abs diff {diff:.3g} over {N} x {8 * WIDTH} features (max |f| {scale:.3g})")
    assert diff < BOUND, f"{what}: max abs diff {diff} above {BOUND}"


def main():
    torch.manual_seed(0)
    model = ResNet18(WIDTH, IN_CH)
    with torch.no_grad():  # generic BN statistics and affine parameters, not 0/1
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    sd = model.state_dict()
    conv1_before = sd["conv1.weight"].clone()  # state_dict() shares storage with the model
    assert any(k.endswith("num_batches_tracked") for k in sd) and "fc.weight" in sd
    tv = os.path.join(TMP, "torchvision.safetensors")
    save_safetensors(tv, sd)
    x, y = test_images()
    arch = ["--arch", "resnet18", "--stem", "cifar", "--width", str(WIDTH)]
    emb = os.path.join(TMP, "tv-features.safetensors")
    ncssl("embed", tv, *arch, "--subset", str(N), "--threads", "1", "--out", emb)
    compare("torch -> ncssl embed", model, x, y, emb)

    run = os.path.join(TMP, "run")
    ncssl("train", "--init-from", tv, "--width", str(WIDTH), "--proj-hidden", "32", "--proj-out",
          "16", "--batch", "16", "--subset", "64", "--max-steps", "2", "--threads", "1",
          "--loader-threads", "1", "--out", run)
    back = load_safetensors(os.path.join(run, "backbone.safetensors"))
    missing, unexpected = model.load_state_dict(back, strict=False)
    assert not unexpected, unexpected
    assert all(k.startswith("fc.") or k.endswith("num_batches_tracked") for k in missing), missing
    assert not torch.equal(model.conv1.weight, conv1_before), "training changed nothing"
    emb = os.path.join(TMP, "run-features.safetensors")
    ncssl("embed", run, "--subset", str(N), "--threads", "1", "--out", emb)
    compare("ncssl train --init-from -> backbone.safetensors -> torch", model, x, y, emb)


if __name__ == "__main__":
    main()
