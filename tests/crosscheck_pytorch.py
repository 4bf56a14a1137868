#!/usr/bin/env python3
"""crosscheck_pytorch.py — checks `kktrecon kkt` against PyTorch autograd on the same point.

Not part of the test suites (it needs PyTorch, which CI does not have). Usage:

    kktrecon kkt --model M.safetensors --candidates C.safetensors --alpha A --lambda-min L \\
                 --out G.safetensors --precision double [--objective OBJ]
    python3 tests/crosscheck_pytorch.py M.safetensors C.safetensors A L G.safetensors [OBJ]

OBJ is auto (default: binary for one output, multiclass for more), binary, multiclass or
regression, as `kktrecon kkt --objective`. Multiclass and regression follow decoreco's
get_kkt_loss (Buzaglo et al., NeurIPS 2023): multiclass output = λ (Φ_y − max_{j≠y} Φ_j) with the
runner-up from values.scatter(1, y, −inf).max(1) (no gradient through the pick), regression
output = λ Φ; biases on any layer (every parameter tensor in state_dict order enters the KKT
term); regression has no λ_min term.

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
    objective = sys.argv[6] if len(sys.argv) > 6 else 'auto'
    L = sum(1 for k in model if k.startswith('layers.') and k.endswith('.weight'))
    W = [model['layers.%d.weight' % l].clone().requires_grad_(True) for l in range(L)]
    B = [model['layers.%d.bias' % l].clone().requires_grad_(True)
         if 'layers.%d.bias' % l in model else None for l in range(L)]
    params = []                                         # state_dict order: W_1, b_1, W_2, ...
    for l in range(L):
        params.append(W[l])
        if B[l] is not None:
            params.append(B[l])
    C = W[L - 1].shape[0]
    if objective == 'auto':
        objective = 'binary' if C == 1 else 'multiclass'

    def act(z):
        sp = torch.log1p(torch.exp(-torch.abs(alpha * z))) / alpha + torch.relu(z)
        return torch.relu(z).detach() + (sp - sp.detach())

    def phi(x):                                         # m x C
        a = x
        for l in range(L):
            z = a @ W[l].T + (B[l] if B[l] is not None else 0)
            a = act(z) if l < L - 1 else z
        return a

    x = cand['x'].clone().requires_grad_(True)
    lam = cand['lambda'].clone().requires_grad_(True)
    y, m = cand['y'], cand['x'].shape[0]
    values = phi(x)
    if objective == 'regression':
        out = values.squeeze(1) * lam
    elif objective == 'multiclass':
        yl = y.long().view(-1, 1)
        phi_y = values.gather(1, yl).squeeze(1)
        second = values.clone().scatter(1, yl, -torch.inf).max(dim=1)[0]
        out = (phi_y - second) * lam
    else:
        out = values.squeeze(1) * lam * y
    g = torch.autograd.grad(out, params, grad_outputs=torch.ones_like(out) / m, create_graph=True)
    per_tensor = [((p.detach() - gi) ** 2).sum() for p, gi in zip(params, g)]
    kkt = sum(per_tensor)
    prior = (torch.relu(x - 1) ** 2 + torch.relu(-1 - x) ** 2).sum()
    dual = 5 * (torch.relu(lmin - lam) ** 2).sum() if objective != 'regression' \
        else torch.zeros(())
    loss = kkt + prior + dual
    gx, gl = torch.autograd.grad(loss, [x, lam])
    print('pytorch (%s): loss %.17g  kkt %.17g  prior %.17g  lambda %.17g'
          % (objective, loss, kkt, prior, dual))
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
