#!/usr/bin/env python3
"""sweep_signals.py — label-free signals of a finished `kktrecon sweep` against each point's
quality (hand-run, like crosscheck_pytorch.py; plain Python 3, no packages).

    python3 tests/sweep_signals.py DIR [FRACTION]

For every done point of DIR (sweep.csv, points/NNNN/attack.jsonl, point.json,
candidates.safetensors) it takes, at the logged iteration closest to FRACTION (default 0.1) of
the run and at the end: the total loss, the KKT term, the dual-feasibility term; at the end
also the first layer's KKT residual, the median λ, the fraction of λ above λ_min and the median
candidate norm ‖x‖. Each is ranked against the point's quality alone (alone_clip_mean of
sweep.csv: every training image matched to this point's candidates only) and the Spearman
correlation printed (ties get their average rank). Quality needs the training set; the
signals do not: they are what an attacker without it could use to choose points.
"""
import csv
import json
import math
import struct
import sys


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0 + 1
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (va * vb) if va > 0 and vb > 0 else float('nan')


def tensor(path, name):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    t = h[name]
    raw = b[8 + n + t['data_offsets'][0]:8 + n + t['data_offsets'][1]]
    f = 'd' if t['dtype'] == 'F64' else 'f'
    return list(struct.unpack('<%d%s' % (len(raw) // struct.calcsize(f), f), raw)), t['shape']


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def main():
    d = sys.argv[1]
    frac = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    rows = [r for r in csv.DictReader(open(d + '/sweep.csv')) if r['status'] == 'done']
    names = ['loss@%g' % frac, 'kkt@%g' % frac, 'lambda_term@%g' % frac, 'loss (end)',
             'kkt layer 1 (end)', 'lambda_term (end)', 'median lambda (end)',
             'frac lambda > lambda_min (end)', 'median |x| (end)']
    sig = {k: [] for k in names}
    qual = []
    for r in rows:
        p = int(r['point'])
        pdir = '%s/points/%04d' % (d, p)
        log = [json.loads(line) for line in open(pdir + '/attack.jsonl')]
        last = max(e['iteration'] for e in log)
        at = min(log, key=lambda e: abs(e['iteration'] - frac * last))
        lam, _ = tensor(pdir + '/candidates.safetensors', 'lambda')
        x, shape = tensor(pdir + '/candidates.safetensors', 'x')
        m, dd = shape
        norms = [math.sqrt(sum(v * v for v in x[i * dd:(i + 1) * dd])) for i in range(m)]
        lmin = float(r['lambda_min'])
        vals = [at['loss'], at['loss_kkt'], at['loss_lambda'], float(r['loss']),
                float(r['loss_kkt_layer1']), float(r['loss_lambda']), median(lam),
                sum(1 for v in lam if v > lmin) / len(lam), median(norms)]
        for k, v in zip(names, vals):
            sig[k].append(v)
        qual.append(float(r['alone_clip_mean']))
    print('%d done points of %s; quality = alone_clip_mean (mean %.3f, range %.3f..%.3f)'
          % (len(rows), d, sum(qual) / len(qual), min(qual), max(qual)))
    print('%-32s %8s' % ('label-free signal', 'Spearman'))
    for k in names:
        print('%-32s %+8.2f' % (k, spearman(sig[k], qual)))


if __name__ == '__main__':
    main()
