"""The PyTorch peer of `ncssl bench step --device cuda`: one BYOL training step on a GPU with the
same network and step as ncssl's defaults -- ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no
max-pool, fc removed), projector Linear(512, 512) - BatchNorm1d(512, affine=False) - ReLU -
Linear(512, 128), predictor MLP 128-512-128 (BN affine=False) or DirectPred (a bias-free 128x128
linear set from F = rho F + (1 - rho) E[f f^T] every step: W_p = U diag(sqrt(s / s_max) + eps) U^T),
symmetric 2 - 2cos loss, SGD lr 0.03 momentum 0.9 weight decay 4e-4, EMA 0.996 of the target.

The peer at its best: channels-last memory format, cuDNN autotuning (benchmark mode) and, with
--compile, torch.compile of the online and target networks. Precision as ncssl's --precision:
tf32 (PyTorch's default: TF32 in convolutions only), fp32, bf16 (torch.autocast).

Prints one JSON line: images_per_s (an image = two views through the online network forward and
backward plus the target forward), ms_per_step, peak_device_mb (max_memory_allocated).

Usage: python3 torch_gpu_step.py [--batch 256] [--steps 20] [--warmup 5] [--predictor mlp|directpred]
                                 [--precision tf32|fp32|bf16] [--compile] [--width 64] [--device cuda]
(--device cpu runs the same code on the CPU: a check of the script where there is no GPU, not a
benchmark.)"""
import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_peer import ResNet18  # the CPU peer's network (this folder; no torchvision needed)


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h, affine=False), nn.ReLU(inplace=True),
                         nn.Linear(h, o))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--predictor", choices=["mlp", "directpred"], default="mlp")
    ap.add_argument("--precision", choices=["tf32", "fp32", "bf16"], default="tf32")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    on_gpu = dev.type == "cuda"
    if a.compile and not hasattr(torch, "compile"):
        ap.error(f"--compile needs torch.compile (PyTorch 2 or later; this is {torch.__version__})")
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = a.precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default, and ncssl's
    torch.manual_seed(0)

    enc = ResNet18(a.width, 3)
    online = nn.Sequential(enc, mlp(8 * a.width, 512, 128)).to(dev, memory_format=torch.channels_last)
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    direct = a.predictor == "directpred"
    pred = (nn.Linear(128, 128, bias=False) if direct else mlp(128, 512, 128)).to(dev)
    if direct:  # W_p is set from F, never learned: no gradient, no optimizer state
        pred.weight.requires_grad_(False)
    params = list(online.parameters()) + [p for p in pred.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.03, momentum=0.9, weight_decay=4e-4)
    run_online, run_target = online, target
    if a.compile:
        run_online, run_target = torch.compile(online), torch.compile(target)
    Fhat = torch.zeros(128, 128, device=dev)
    seen = [0]

    def loss_fn(p, z):
        return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()

    def step(x1, x2):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            f1, f2 = run_online(x1), run_online(x2)
            if direct:  # F from this batch first, as ncssl and the official code do; in fp32
                with torch.no_grad(), torch.autocast(dev.type, enabled=False):
                    fb = torch.cat([f1, f2]).float()
                    c = fb.t() @ fb / fb.shape[0]
                    Fhat.mul_(0.3 if seen[0] else 0.0).add_(c, alpha=0.7 if seen[0] else 1.0)
                    seen[0] += 1
            p1, p2 = pred(f1), pred(f2)
            with torch.no_grad():
                z1, z2 = run_target(x1), run_target(x2)
            loss = loss_fn(p1.float(), z2.float()) + loss_fn(p2.float(), z1.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            if direct:
                s, U = torch.linalg.eigh(Fhat)
                pj = (s.clamp(min=0) / s.max()).sqrt() + 0.1
                pred.weight.copy_(U @ torch.diag(pj.clamp(min=1e-4)) @ U.t())
            torch._foreach_mul_(list(target.parameters()), 0.996)
            torch._foreach_add_(list(target.parameters()), list(online.parameters()), alpha=0.004)
        return loss

    x1 = torch.randn(a.batch, 3, 32, 32, device=dev).to(memory_format=torch.channels_last)
    x2 = torch.randn(a.batch, 3, 32, 32, device=dev).to(memory_format=torch.channels_last)
    for _ in range(a.warmup):
        step(x1, x2)
    sync()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(a.steps):
        last = step(x1, x2).item()  # read back every step, as ncssl's step returns its loss
    sync()
    dt = (time.perf_counter() - t) / a.steps
    print(json.dumps({"peer": "torch", "torch": torch.__version__,
                      "gpu": torch.cuda.get_device_name() if on_gpu else None,
                      "batch": a.batch, "width": a.width, "predictor": a.predictor,
                      "precision": a.precision, "compile": a.compile, "ms_per_step": dt * 1e3,
                      "images_per_s": a.batch / dt,
                      "peak_device_mb": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
                      "loss": last}))


if __name__ == "__main__":
    main()
