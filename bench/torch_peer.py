"""The PyTorch side of ncssl's speed comparisons (CPU, Debian's python3-torch, no torchvision).

The same model and recipe as `ncssl bench step` / `ncssl train` with their defaults: ResNet-18
(CIFAR stem: 3x3 stride-1 convolution, no max-pool) of base width W, projector 8W-512-128 with
batch norm, predictor either an MLP 128-512-128 with batch norm or DirectPred's linear W_p set
after every step from the eigendecomposition of the moving correlation F of the projector outputs
(rho 0.3, eps 0.1, p_j = sqrt(s_j / s_max) + eps), BYOL's symmetric 2 - 2cos loss against an EMA
target (0.996), SGD lr 0.03 momentum 0.9 weight decay 4e-4.

  step:  training steps on random images (what `ncssl bench step` times). An image = two views
         through the online network forward and backward plus the target forward.
  train: a short end-to-end run on Fashion-MNIST (28x28x1): IDX files read and decoded, every
         step's two views augmented as ncssl's "fashion" preset does (random resized crop of
         scale 0.2-1 and ratio 3/4-4/3, horizontal flip 0.5, brightness and contrast jitter 0.4
         with probability 0.8, normalisation), then the training step. Batched on the tensor
         side (one grid_sample per view), in the main process.

--bf16 runs the forward passes under torch.autocast("cpu", dtype=torch.bfloat16) (bf16
convolutions and linear layers, fp32 weights and optimizer), the peer of `--precision bf16`;
--channels-last keeps the images and weights channels-last (oneDNN's preferred bf16 layout).

Prints one JSON line. Run with /usr/bin/python3; threads from --threads.
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def bn_conv(cin, cout, k, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """ResNet's basic block: two 3x3 convolutions, and a 1x1 shortcut where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = bn_conv(cin, cout, 3, stride)
        self.b = bn_conv(cout, cout, 3, 1)
        self.short = bn_conv(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b(F.relu(self.a(x)))
        return F.relu(y + (self.short(x) if self.short is not None else x))


class ResNet18(nn.Module):
    def __init__(self, width, in_channels):
        super().__init__()
        self.stem = bn_conv(in_channels, width, 3, 1)
        layers, cin = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            cout = width << i
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_dim = cin

    def forward(self, x):
        return self.layers(F.relu(self.stem(x))).mean(dim=(2, 3))


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Linear(h, o))


class Learner:
    """BYOL with an MLP or a DirectPred predictor: one step() per batch of two views."""

    def __init__(self, a):
        torch.manual_seed(a.seed)
        backbone = ResNet18(a.width, a.in_channels)
        self.online = nn.Sequential(backbone, mlp(backbone.out_dim, 512, 128))
        self.target = nn.Sequential(ResNet18(a.width, a.in_channels), mlp(backbone.out_dim, 512, 128))
        self.target.load_state_dict(self.online.state_dict())
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.direct = a.predictor == "directpred"
        self.pred = nn.Linear(128, 128, bias=False) if self.direct else mlp(128, 512, 128)
        params = list(self.online.parameters()) + list(self.pred.parameters())
        self.opt = torch.optim.SGD(params, lr=0.03, momentum=0.9, weight_decay=4e-4)
        self.F = None  # DirectPred's moving correlation of the projector outputs
        self.set_seconds = 0.0
        self.bf16 = a.bf16
        if a.channels_last:
            self.online.to(memory_format=torch.channels_last)
            self.target.to(memory_format=torch.channels_last)

    @staticmethod
    def loss(p, z):
        return (2 - 2 * F.cosine_similarity(p, z, dim=-1)).mean()

    def step(self, x1, x2):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            f1, f2 = self.online(x1), self.online(x2)
            with torch.no_grad():
                z1, z2 = self.target(x1), self.target(x2)
            loss = self.loss(self.pred(f1), z2) + self.loss(self.pred(f2), z1)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            for po, pt in zip(self.online.parameters(), self.target.parameters()):
                pt.mul_(0.996).add_(po, alpha=0.004)
            if self.direct:
                t = time.perf_counter()
                f1, f2 = f1.detach(), f2.detach()
                corr = (f1.T @ f1 + f2.T @ f2) / (2 * f1.shape[0])
                self.F = corr if self.F is None else 0.3 * self.F + 0.7 * corr
                s, U = torch.linalg.eigh(self.F)
                p = torch.sqrt(s.clamp(min=0) / s[-1]) + 0.1
                self.pred.weight.copy_((U * p) @ U.T)
                self.set_seconds += time.perf_counter() - t
        return loss.item()


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        magic, n, h, w = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise SystemExit(f"torch_peer: {path} is not an IDX image file")
        return torch.frombuffer(bytearray(f.read(n * h * w)), dtype=torch.uint8).view(n, 1, h, w)


def augment(x, gen):
    """ncssl's "fashion" view of a batch of uint8 images [n, 1, 28, 28] -> normalised float."""
    n = x.shape[0]
    x = x.float() / 255
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)
    scale = u(0.2, 1.0)
    ratio = torch.exp(u(math.log(3 / 4), math.log(4 / 3)))
    cw = torch.sqrt(scale * ratio).clamp(max=1.0)  # crop size as a fraction of the side
    ch = torch.sqrt(scale / ratio).clamp(max=1.0)
    cx = u(-1.0, 1.0) * (1 - cw)
    cy = u(-1.0, 1.0) * (1 - ch)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = cw * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = ch, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    jit = (torch.rand(n, generator=gen) < 0.8).view(n, 1, 1, 1)
    b = u(0.6, 1.4).view(n, 1, 1, 1)
    c = u(0.6, 1.4).view(n, 1, 1, 1)
    y = (x * b).clamp(0, 1)
    m = y.mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - m) * c + m).clamp(0, 1)
    x = torch.where(jit, y, x)
    return (x - 0.2860) / 0.3530


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["step", "train"])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--predictor", choices=["mlp", "directpred"], default="mlp")
    ap.add_argument("--steps", type=int, default=3, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (step mode)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="autocast the forward passes to bf16")
    ap.add_argument("--channels-last", action="store_true", help="channels-last images and weights")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    out = {"peer": "torch " + torch.__version__, "mode": a.mode, "threads": torch.get_num_threads()}
    if a.mode == "step":
        learner = Learner(a)
        x1 = torch.randn(a.batch, a.in_channels, a.image, a.image)
        x2 = torch.randn(a.batch, a.in_channels, a.image, a.image)
        if a.channels_last:
            x1, x2 = (x.contiguous(memory_format=torch.channels_last) for x in (x1, x2))
        for _ in range(a.warmup):
            learner.step(x1, x2)
        learner.set_seconds = 0.0
        t = time.perf_counter()
        for _ in range(a.steps):
            loss = learner.step(x1, x2)
        dt = (time.perf_counter() - t) / a.steps
        out.update(width=a.width, image=a.image, in_channels=a.in_channels, batch=a.batch,
                   predictor=a.predictor, bf16=a.bf16, channels_last=a.channels_last,
                   ms_per_step=dt * 1e3, images_per_s=a.batch / dt, loss=loss)
    else:
        a.in_channels, a.image = 1, 28
        images = read_idx_images(os.path.join(a.data_dir, "train-images-idx3-ubyte.gz"))
        learner = Learner(a)
        gen = torch.Generator().manual_seed(a.seed)
        order = torch.randperm(images.shape[0], generator=gen)
        t = time.perf_counter()
        for i in range(a.steps):
            idx = order[(i * a.batch) % (images.shape[0] - a.batch):][: a.batch]
            x = images[idx]
            loss = learner.step(augment(x, gen), augment(x, gen))
        dt = time.perf_counter() - t
        wall = time.perf_counter() - t_start
        out.update(width=a.width, batch=a.batch, predictor=a.predictor, steps=a.steps,
                   train_seconds=dt, wall_seconds=wall, images_per_s=a.steps * a.batch / dt,
                   wall_images_per_s=a.steps * a.batch / wall, loss=loss)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
