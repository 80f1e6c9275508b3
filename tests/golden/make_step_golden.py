"""Golden reference for the full SSL training step (tests/test_ssl_golden.c).

Run by a developer, not by CI:  /usr/bin/python3 tests/golden/make_step_golden.py
Needs Debian's python3-torch (1.13). Writes, next to this script:
  step_byol_mlp.bin     BYOL, width-8 ResNet-18 (cifar stem), projector 64-32-8 (BN affine off,
                        as the official code), 2-layer predictor 8-32-8 (BN affine on), eight
                        3x32x32 images per view: backbone features h, projector outputs f,
                        predictions q, targets z, the loss, every parameter gradient of the first
                        step, online parameters/buffers after 1 step, and parameters/buffers (online and
                        target) after 3 SGD steps with EMA.
  step_directpred.bin   the same network with DirectPred (linear 8x8 predictor, no bias,
                        rho 0.3, eps 0.1, freq 1) in the official order of operations (digest
                        section 6.2), from the same initial online weights: the losses, W_p
                        after each step, F-hat after step 3, and the projector and predictor
                        (online and target) after 3 steps.
Eight images, not two: batch norm over two samples is so ill-conditioned that PyTorch's own float32
gradients differ from float64 by 1e-3, and F-hat of DirectPred would be rank-deficient (the square
root of noisy zero eigenvalues). The reference is computed in float64. Over several steps float32 and float64 trajectories part
by more than rounding: the loss is not smooth (ReLU), and an activation within 1e-7 of zero that
flips changes the next gradient by a finite amount (even torch's float32 run drifts when the
first gradient is scaled by 1 - 1e-5 in float64), so the C test holds one step to tight tolerances
and three steps to looser ones.
The initial weights are drawn here (torch.manual_seed(0), PyTorch's default init) and stored in
the files ("init.<name>") so that both sides start from the same bytes.

File format: the one of make_backbone_golden.py (little-endian): the 8 bytes "NCGOLD1\n", then
records until the end of the file: u32 name length, name bytes, u32 ndim, ndim x u32 dims,
float32 data. tests/golden/golden.h reads it.
"""
import os, struct, copy
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
WIDTH, D_HID, D_OUT, PRED_HID, N_IMG = 8, 32, 8, 32, 8
LR, MOM, WD, EMA = 0.03, 0.9, 4e-4, 0.996


def write(path, tensors):
    with open(path, 'wb') as fh:
        fh.write(b'NCGOLD1\n')
        for name, t in tensors:
            t = t.detach().to(torch.float32).contiguous()
            shape = list(t.shape) if t.dim() > 0 else [1]
            nb = name.encode()
            fh.write(struct.pack('<I', len(nb)) + nb + struct.pack('<I', len(shape)))
            fh.write(struct.pack('<%dI' % len(shape), *shape))
            fh.write(t.numpy().astype('<f4').tobytes())
    print('wrote', path, len(tensors), 'tensors')


class Block(nn.Module):  # torchvision's BasicBlock, same attribute names
    def __init__(s, cin, cout, stride):
        super().__init__()
        s.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); s.bn1 = nn.BatchNorm2d(cout)
        s.relu = nn.ReLU(inplace=True)
        s.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(cout)
        s.downsample = None
        if stride != 1 or cin != cout:
            s.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))

    def forward(s, x):
        y = s.relu(s.bn1(s.conv1(x)))
        y = s.bn2(s.conv2(y))
        return s.relu(y + (x if s.downsample is None else s.downsample(x)))


class ResNet18(nn.Module):  # cifar stem: 3x3 stride-1 conv, no max-pool; no fc
    def __init__(s, w):
        super().__init__()
        s.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False); s.bn1 = nn.BatchNorm2d(w)
        s.relu = nn.ReLU(inplace=True)
        chans, cin = [w, 2 * w, 4 * w, 8 * w], w
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            setattr(s, 'layer%d' % (i + 1), nn.Sequential(Block(cin, c, stride), Block(c, c, 1)))
            cin = c
        for m in s.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(s, x):
        x = s.relu(s.bn1(s.conv1(x)))
        x = s.layer4(s.layer3(s.layer2(s.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class Head(nn.Module):
    def __init__(s, i, h, o, affine):
        super().__init__()
        s.net = nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h, affine=affine),
                              nn.ReLU(inplace=True), nn.Linear(h, o))

    def forward(s, x): return s.net(x)


class Online(nn.Module):
    def __init__(s):
        super().__init__()
        s.backbone = ResNet18(WIDTH); s.projector = Head(8 * WIDTH, D_HID, D_OUT, False)

    def forward(s, x):
        h = s.backbone(x); return h, s.projector(h)


def named_state(prefix, module):
    return [(prefix + k, v.clone()) for k, v in module.state_dict().items()
            if not k.endswith('num_batches_tracked')]


def byol_loss(q, z):
    return (2 - 2 * F.cosine_similarity(q, z.detach(), dim=-1)).mean()


def run(predictor_kind):
    torch.manual_seed(0)
    online = Online()
    if predictor_kind == 'mlp':
        pred = Head(D_OUT, PRED_HID, D_OUT, True)
        pred_prefix = 'predictor.'
    else:
        pred = nn.Linear(D_OUT, D_OUT, bias=False)
        pred_prefix = 'predictor.'
    target = copy.deepcopy(online)
    for p in target.parameters(): p.requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    x1 = torch.rand(N_IMG, 3, 32, 32, generator=g)
    x2 = torch.flip(x1, dims=[3]) * 0.8 + 0.1 * torch.randn(N_IMG, 3, 32, 32, generator=g)
    out = [('input.x1', x1), ('input.x2', x2)]
    if predictor_kind == 'mlp':  # the DirectPred run starts from the same online weights
        out += [('init.' + k, v) for k, v in named_state('', online)]
    out += [('init.' + pred_prefix + k, v.clone()) for k, v in pred.state_dict().items()
            if not k.endswith('num_batches_tracked')]
    # The float32 initial values are exact in float64; the reference trajectory is computed in
    # float64 so that it is the exact answer the float32 C code approximates.
    online.double(); pred.double(); target.double()
    x1, x2 = x1.double(), x2.double()
    params = list(online.parameters()) + list(pred.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=MOM, weight_decay=WD)
    F_hat, losses = None, []
    for step in range(3):
        h1, f1 = online(x1); h2, f2 = online(x2)
        if predictor_kind == 'directpred':  # F-hat from this batch BEFORE the predictor forward
            f = torch.cat([f1, f2]).detach()
            C = f.t() @ f / f.shape[0]
            F_hat = C if F_hat is None else 0.3 * F_hat + 0.7 * C
        q1, q2 = pred(f1), pred(f2)
        with torch.no_grad():
            _, z1 = target(x1); _, z2 = target(x2)
        loss = byol_loss(q1, z2) + byol_loss(q2, z1)
        opt.zero_grad(); loss.backward()
        if step == 0 and predictor_kind == 'mlp':
            out += [('fwd.h1', h1), ('fwd.h2', h2), ('fwd.f1', f1), ('fwd.f2', f2),
                    ('fwd.q1', q1), ('fwd.q2', q2), ('fwd.z1', z1), ('fwd.z2', z2),
                    ('loss', loss)]
            for k, p in online.named_parameters(): out.append(('grad.' + k, p.grad.clone()))
            for k, p in pred.named_parameters(): out.append(('grad.' + pred_prefix + k, p.grad.clone()))
        opt.step()
        if predictor_kind == 'directpred':  # niter % 1 == 0: overwrite W_p
            s, U = torch.linalg.eigh(F_hat)
            p = (s.clamp(min=0) / s.max()).sqrt() + 0.1
            with torch.no_grad():
                pred.weight.copy_(U @ torch.diag(p.clamp(min=1e-4)) @ U.t())
            out.append(('wp.%d' % (step + 1), pred.weight.clone()))
        with torch.no_grad():
            for po, pt in zip(online.parameters(), target.parameters()):
                pt.mul_(EMA).add_(po, alpha=1 - EMA)
        losses.append(loss.item())
        if step == 0 and predictor_kind == 'mlp':  # one step: no trajectory effects yet
            out += [('step1.' + k, v) for k, v in named_state('', online)]
            out += [('step1.' + pred_prefix + k, v.clone()) for k, v in pred.state_dict().items()
                    if not k.endswith('num_batches_tracked')]
    out.append(('losses', torch.tensor(losses, dtype=torch.float64)))
    keep = lambda k: predictor_kind == 'mlp' or k.startswith('projector.')  # keep files small
    out += [('step3.' + k, v) for k, v in named_state('', online) if keep(k)]
    out += [('step3.' + pred_prefix + k, v.clone()) for k, v in pred.state_dict().items()
            if not k.endswith('num_batches_tracked')]
    out += [('step3.target.' + k, v) for k, v in named_state('', target) if keep(k)]
    if F_hat is not None: out.append(('corr.3', F_hat))
    return out


write(os.path.join(HERE, 'step_byol_mlp.bin'), run('mlp'))
write(os.path.join(HERE, 'step_directpred.bin'), run('directpred'))
