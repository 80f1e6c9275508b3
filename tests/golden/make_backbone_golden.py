"""Writes tests/golden/backbone_w8.bin: a width-8 ResNet-18 with the CIFAR stem (torchvision's
BasicBlock, fc removed) on two 3x32x32 images in training mode, for tests/test_net_golden.c.

Run by a developer, not by CI:  /usr/bin/python3 tests/golden/make_backbone_golden.py
(Debian's python3-torch 1.13 and python3-torchvision). The weights are drawn here and exported, so
both sides use identical ones; BN weights/biases are perturbed away from 1/0 so that every
gradient is generic.

Format (little-endian): the 8 bytes "NCGOLD1\\n", then records until the end of the file:
  u32 name length, name bytes (UTF-8, no terminator), u32 ndim, ndim x u32 dims, float32 data.
Records: "input" [2,3,32,32]; "dy" [2,64] (the loss is L = sum(dy * features)); for every
state_dict entry except num_batches_tracked "param:NAME" (values before the forward);
"features" [2,64]; "grad:NAME" for every trainable parameter; "after:NAME" for the BN running
statistics after the training-mode forward; "features_eval" [2,64] (eval mode, after that update).
"""
import os
import struct

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock

WIDTH = 8


class ResNet18Cifar(nn.Module):
    """torchvision's resnet18 layout and names with base width WIDTH, 3x3 stem, no max-pool."""

    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        inplanes = w
        for i, (planes, stride) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]):
            blocks = []
            for b in range(2):
                s = stride if b == 0 else 1
                down = None
                if s != 1 or inplanes != planes:
                    down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, s, bias=False),
                                         nn.BatchNorm2d(planes))
                blocks.append(BasicBlock(inplanes, planes, s, down))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def record(f, name, t):
    t = t.detach().to(torch.float32).contiguous().cpu()
    b = name.encode()
    f.write(struct.pack("<I", len(b)) + b + struct.pack("<I", t.dim()))
    f.write(struct.pack(f"<{t.dim()}I", *t.shape))
    f.write(t.numpy().astype("<f4").tobytes())


def main():
    torch.manual_seed(1234)
    net = ResNet18Cifar(WIDTH)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.add_(0.2 * torch.randn_like(m.weight))
                m.bias.add_(0.2 * torch.randn_like(m.bias))
                m.running_mean.add_(0.1 * torch.randn_like(m.running_mean))
                m.running_var.mul_(1 + 0.5 * torch.rand_like(m.running_var))
    x = torch.randn(2, 3, 32, 32)
    dy = torch.randn(2, 8 * WIDTH)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backbone_w8.bin")
    with open(out, "wb") as f:
        f.write(b"NCGOLD1\n")
        record(f, "input", x)
        record(f, "dy", dy)
        state = {k: v.clone() for k, v in net.state_dict().items() if "num_batches" not in k}
        for k, v in state.items():
            record(f, "param:" + k, v)
        net.train()
        y = net(x)
        (y * dy).sum().backward()
        record(f, "features", y)
        for k, p in net.named_parameters():
            record(f, "grad:" + k, p.grad)
        for k, v in net.state_dict().items():
            if "running" in k:
                record(f, "after:" + k, v)
        net.eval()
        with torch.no_grad():
            record(f, "features_eval", net(x))
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
