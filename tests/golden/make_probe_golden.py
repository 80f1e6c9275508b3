"""Writes tests/golden/probe_steps.bin: four steps of the linear probe's logistic regression in
PyTorch, for tests/test_probe_golden.c.

Run by a developer, not by CI:  /usr/bin/python3 tests/golden/make_probe_golden.py
(Debian's python3-torch). nn.Linear(5, 3) trained with CrossEntropyLoss (mean) and
torch.optim.Adam(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1) on batches of 8 rows
taken in order (rows 0-7, 8-15, 0-7, 8-15). The rate and decay are larger than the probe's
defaults so that every term of the update is visible in the result.

Format: tests/golden/golden.h ("NCGOLD1\\n", then u32 name length, name, u32 ndim, dims, float32).
Records: "x" [16,5], "y" [16] (class indices as floats), "W0" [3,5], "b0" [3], "gW0" [3,5] and
"gb0" [3] (the first batch's gradient), "loss" [4] (each step's loss before its update), "W4" [3,5],
"b4" [3] (after the four steps).
"""
import os
import struct

import torch

torch.manual_seed(0)
x = torch.randn(16, 5)
y = torch.randint(0, 3, (16,))
model = torch.nn.Linear(5, 3)
W0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
opt = torch.optim.Adam(model.parameters(), lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
losses, grads = [], None
for step in range(4):
    rows = slice(0, 8) if step % 2 == 0 else slice(8, 16)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
    loss.backward()
    if step == 0:
        grads = (model.weight.grad.clone(), model.bias.grad.clone())
    losses.append(loss.item())
    opt.step()

records = [("x", x), ("y", y.float()), ("W0", W0), ("b0", b0), ("gW0", grads[0]), ("gb0", grads[1]),
           ("loss", torch.tensor(losses)), ("W4", model.weight.detach()), ("b4", model.bias.detach())]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe_steps.bin")
with open(out, "wb") as f:
    f.write(b"NCGOLD1\n")
    for name, t in records:
        t = t.contiguous().float()
        f.write(struct.pack("<I", len(name)) + name.encode())
        f.write(struct.pack("<I", t.dim()) + b"".join(struct.pack("<I", d) for d in t.shape))
        f.write(t.numpy().astype("<f4").tobytes())
print(f"wrote {out}")
