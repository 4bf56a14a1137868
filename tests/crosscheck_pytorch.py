#!/usr/bin/env python3
"""crosscheck_pytorch.py — checks `kktrecon kkt` against PyTorch autograd on the same point.

Not part of the test suites (it needs PyTorch, which CI does not have). Usage:

    kktrecon kkt --model M.safetensors --candidates C.safetensors --alpha A --lambda-min L \\
                 --out G.safetensors --precision double
    python3 tests/crosscheck_pytorch.py M.safetensors C.safetensors A L G.safetensors

It rebuilds the paper's loss (DESIGN.md §3) the way the paper's code does: g from
torch.autograd.grad(Φ·λ·y / m, θ, create_graph=True), the ReLU forward exact and its
derivative σ(αz) (here: relu(z) + softplus_α(z) − stop_gradient(softplus_α(z)), whose derivative
is σ(αz) and second derivative α σ (1 − σ)), then differentiates the loss in x and λ, and prints
the relative differences to kktrecon's output. Reads safetensors with the standard library only.
"""
import json
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)


def read_safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {'F64': torch.float64, 'F32': torch.float32, 'I64': torch.int64}
    out = {}
    for name, v in header.items():
        if name == '__metadata__':
            continue
        b, e = v['data_offsets']
        t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=dtypes[v['dtype']])
        out[name] = t.reshape(v['shape']).to(torch.float64)
    return out


def main():
    model, cand, alpha, lmin = read_safetensors(sys.argv[1]), read_safetensors(sys.argv[2]), \
        float(sys.argv[3]), float(sys.argv[4])
    L = sum(1 for k in model if k.startswith('layers.') and k.endswith('.weight'))
    W = [model['layers.%d.weight' % l].clone().requires_grad_(True) for l in range(L)]
    b1 = model['layers.0.bias'].clone().requires_grad_(True) if 'layers.0.bias' in model else None
    params = [W[0]] + ([b1] if b1 is not None else []) + W[1:]   # state_dict order

    def act(z):
        sp = torch.log1p(torch.exp(-torch.abs(alpha * z))) / alpha + torch.relu(z)
        return torch.relu(z).detach() + (sp - sp.detach())

    def phi(x):
        a = x
        for l in range(L - 1):
            z = a @ W[l].T + (b1 if (l == 0 and b1 is not None) else 0)
            a = act(z)
        return (a @ W[L - 1].T).squeeze(1)

    x = cand['x'].clone().requires_grad_(True)
    lam = cand['lambda'].clone().requires_grad_(True)
    y, m = cand['y'], cand['x'].shape[0]
    out = phi(x) * lam * y
    g = torch.autograd.grad(out, params, grad_outputs=torch.ones_like(out) / m, create_graph=True)
    per_tensor = [((p - gi) ** 2).sum() for p, gi in zip(params, g)]
    kkt = sum(per_tensor)
    prior = (torch.relu(x - 1) ** 2 + torch.relu(-1 - x) ** 2).sum()
    dual = 5 * (torch.relu(lmin - lam) ** 2).sum()
    loss = kkt + prior + dual
    gx, gl = torch.autograd.grad(loss, [x, lam])
    print('pytorch: loss %.17g  kkt %.17g  prior %.17g  lambda %.17g' % (loss, kkt, prior, dual))
    if len(sys.argv) > 5:
        ours = read_safetensors(sys.argv[5])
        worst = 0.0
        for name, a, b in (('loss', ours['loss'], loss.detach()),
                           ('loss_kkt_per_tensor', ours['loss_kkt_per_tensor'],
                            torch.stack([t.detach() for t in per_tensor])),
                           ('grad_x', ours['grad_x'], gx), ('grad_lambda', ours['grad_lambda'], gl)):
            err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()
            worst = max(worst, err)
            print('%-20s max|kktrecon - pytorch| / max|pytorch| = %.3g' % (name, err))
        sys.exit(0 if worst < 1e-8 else 1)


if __name__ == '__main__':
    main()
