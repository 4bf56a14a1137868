#!/usr/bin/env bash
# smoke.sh — runs the real kktrecon binary end to end on a tiny configuration (the bundled
# MNIST subset, 784-16-16-1) and checks every output: train -> attack (killed mid-run,
# resumed, compared bit for bit with an uninterrupted run) -> kkt -> evaluate.
# Usage: smoke.sh PATH/TO/kktrecon   (meson passes it; KKTRECON_SOURCE_DIR points at the repo)
set -euo pipefail
bin=$1
src=${KKTRECON_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
dev=${KKTRECON_SMOKE_DEVICE:-host}
. "$src/tests/lib.sh"
kr_test_begin smoke

kr_tiny_ini "$work/tiny.ini"
cat >> "$work/tiny.ini" <<INI
[attack]
iterations = 60
lr_x = 0.1
init_scale = 0.01
lambda_min = 0.42
alpha = 19.2
precision = double
checkpoint_every = 20
log_every = 10
INI

"$bin" help > "$work/help.txt"
grep -q "attack" "$work/help.txt" || fail "help lists no attack command"
# Whole outputs first: `grep -q` stops reading early, and under pipefail the writer's SIGPIPE
# would fail the test.
"$bin" help config > "$work/help_config.txt"
grep -q "attack.lr_x" "$work/help_config.txt" || fail "help config lacks attack.lr_x"
for c in devices train attack kkt evaluate demo bench sweep; do
  "$bin" "$c" --help > "$work/help_$c.txt"
  grep -q "^usage: kktrecon $c" "$work/help_$c.txt" || fail "$c --help"
done
"$bin" devices | tee "$work/devices.txt"
grep -q "^0 *host" "$work/devices.txt" || fail "devices does not list host first"
if "$bin" train --config "$work/tiny.ini" --out "$work/x" --device nosuchdevice 2> "$work/err.txt"; then
  fail "an unknown device was accepted"
fi
grep -qi "nosuchdevice" "$work/err.txt" || fail "unknown-device error does not name the spec"
if "$bin" train --config "$work/tiny.ini" --set train.stesp=3 --out "$work/x" 2> "$work/err.txt"; then
  fail "an unknown key was accepted"
fi

"$bin" train --config "$work/tiny.ini" --out "$work/train" --device "$dev"
test -s "$work/train/model.safetensors" || fail "no model.safetensors"
if "$bin" train --config "$work/tiny.ini" --out "$work/train" --device "$dev" 2> "$work/err.txt"; then
  fail "train silently overwrote an existing model"
fi
grep -q -- "--overwrite" "$work/err.txt" || fail "no hint at --overwrite: $(cat "$work/err.txt")"

# Uninterrupted reference run, then a run killed at iteration 30 (between checkpoints at
# 20 and 40) and resumed: the final candidates must be identical byte for byte in x/lambda.
"$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/a1" --device "$dev"
set +e
KKTRECON_TEST_KILL_AT=30 "$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --out "$work/a2" --device "$dev"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the killed attack exited 0"
"$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/a2" \
  --device "$dev" --resume

# A diverging attack (absurd step size) must stop with an error and leave only finite
# checkpoints behind, never a non-finite result.
if "$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/nan" \
     --device "$dev" --set attack.lr_x=1e200 --set attack.checkpoint_every=1 2> "$work/nan.txt"; then
  fail "a diverging attack exited 0"
fi
grep -q "diverged" "$work/nan.txt" || fail "no divergence message: $(cat "$work/nan.txt")"
test ! -e "$work/nan/attack.json" || fail "a diverged attack wrote attack.json"
# The loop reads the loss only at log iterations: a divergence between them is caught at the
# next one (25 here), and nothing non-finite is written.
if "$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/nan2" \
     --device "$dev" --set attack.lr_x=1e200 --set attack.checkpoint_every=0 \
     --set attack.log_every=25 2> "$work/nan2.txt"; then
  fail "a diverging attack (log_every 25) exited 0"
fi
grep -q "diverged by iteration 25" "$work/nan2.txt" || fail "divergence between logs: $(cat "$work/nan2.txt")"
test ! -e "$work/nan2/candidates.safetensors" || fail "a diverged attack wrote candidates"

"$bin" kkt --model "$work/train/model.safetensors" --candidates "$work/a1/candidates.safetensors" \
  --alpha 19.2 --lambda-min 0.42 --out "$work/g.safetensors" --device "$dev"

# The same evaluation on the first OpenCL device, if there is one (CI: PoCL).
ocl=$(awk '$1 == "1" {print $2}' "$work/devices.txt")
if [ -n "$ocl" ]; then
  "$bin" kkt --model "$work/train/model.safetensors" --candidates "$work/a1/candidates.safetensors" \
    --alpha 19.2 --lambda-min 0.42 --out "$work/g_ocl.safetensors" --device "$ocl" --precision single
fi

"$bin" evaluate --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --candidates "$work/a1/candidates.safetensors" --candidates "$work/a2/candidates.safetensors" \
  --out "$work/eval" --device "$dev" | tee "$work/eval.txt"

# Pooling: a second run with another seed, evaluated alone and pooled with the first.
"$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/a3" \
  --device "$dev" --set attack.seed=2 --quiet
for run in a1 a3; do
  "$bin" evaluate --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
    --candidates "$work/$run/candidates.safetensors" --out "$work/eval_$run" --device "$dev" --quiet
done
"$bin" evaluate --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --candidates "$work/a1/candidates.safetensors" --candidates "$work/a3/candidates.safetensors" \
  --out "$work/eval_pool" --device "$dev" --quiet

python3 - "$work" <<'PY'
import json, math, struct, sys, os
w = sys.argv[1]
def st(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']
        out[k] = (v['dtype'], v['shape'], b[base + s: base + e])
    return h.get('__metadata__', {}), out
def floats(t):
    dt, shape, raw = t
    f = {'F64': 'd', 'F32': 'f'}[dt]
    return struct.unpack('<%d%s' % (len(raw) // struct.calcsize(f), f), raw)
def check(cond, msg):
    if not cond: sys.exit('smoke: FAIL: ' + msg)

meta, m = st(w + '/train/model.safetensors')
check(m['layers.0.weight'][1] == [16, 784], 'layers.0.weight shape %s' % m['layers.0.weight'][1])
check(m['layers.0.bias'][1] == [16] and m['layers.2.weight'][1] == [1, 16], 'model shapes')
check(m['data.mean'][1] == [784], 'data.mean shape')
tj = json.load(open(w + '/train/train.json'))
for k in ('train_loss', 'min_margin', 'median_margin', 'test_accuracy', 'seconds'):
    check(isinstance(tj[k], (int, float)) and math.isfinite(tj[k]), 'train.json %s=%r' % (k, tj[k]))
check(tj['train_errors'] == 0, 'tiny model did not fit its 8 samples')
check(0 <= tj['kkt_gap'] <= 1 and len(tj['kkt_gap_per_tensor']) == 4, 'train.json kkt_gap %r' % tj.get('kkt_gap'))

_, c1 = st(w + '/a1/candidates.safetensors')
_, c2 = st(w + '/a2/candidates.safetensors')
check(c1['x'][1] == [16, 784] and c1['lambda'][1] == [16] and c1['y'][1] == [16], 'candidate shapes')
check(struct.unpack('<q', c1['iteration'][2])[0] == 60, 'iteration reached')
check(c1['x'][2] == c2['x'][2] and c1['lambda'][2] == c2['lambda'][2],
      'resumed run differs from the uninterrupted one')
check(all(math.isfinite(v) for v in floats(c1['x'])), 'non-finite candidates')
log = [json.loads(l) for l in open(w + '/a2/attack.jsonl')]
its = [r['iteration'] for r in log]
check(its == sorted(set(its)), 'attack.jsonl has repeated or unordered iterations after resume: %s' % its)

_, g = st(w + '/g.safetensors')
for k in ('loss', 'loss_kkt', 'loss_prior', 'loss_lambda', 'loss_kkt_per_tensor', 'grad_x', 'grad_lambda'):
    check(k in g and all(math.isfinite(v) for v in floats(g[k])), 'kkt output %s' % k)
check(g['grad_x'][1] == [16, 784], 'grad_x shape')
per = floats(g['loss_kkt_per_tensor'])
check(len(per) == 4 and abs(sum(per) - floats(g['loss_kkt'])[0]) <= 1e-9 * max(1, sum(per)), 'per-tensor sum')

if os.path.exists(w + '/g_ocl.safetensors'):
    _, go = st(w + '/g_ocl.safetensors')
    for k in ('loss', 'grad_x', 'grad_lambda'):
        a, b = floats(go[k]), floats(g[k])
        err = max(abs(u - v) for u, v in zip(a, b)) / max(max(abs(v) for v in b), 1e-300)
        check(err <= 1e-4, 'kkt on OpenCL (float32) vs host (float64): %s rel err %.3g' % (k, err))
    print('smoke: kkt on the OpenCL device agrees with host')

if os.path.exists(w + '/nan/candidates.safetensors'):
    _, cn = st(w + '/nan/candidates.safetensors')
    check(all(math.isfinite(v) for v in floats(cn['x']) + floats(cn['lambda'])),
          'a diverged attack left a non-finite checkpoint')

e = w + '/eval'
for f in ('pairs.csv', 'summary.json', 'grid.png', 'ssim_vs_margin.png', 'report.html'):
    check(os.path.getsize(os.path.join(e, f)) > 0, 'missing ' + f)
for f in ('grid.png', 'ssim_vs_margin.png'):
    check(open(os.path.join(e, f), 'rb').read(8) == b'\x89PNG\r\n\x1a\n', f + ' is not a PNG')
sj = json.load(open(e + '/summary.json'))
check(sj['n_train'] == 8 and sj['n_candidates'] == 32, 'summary counts %r' % ((sj['n_train'], sj['n_candidates']),))
for k in ('official', 'clip', 'mean_baseline'):
    check(math.isfinite(sj[k]['mean']) and len(sj[k]['sorted_curve']) == 8, 'summary ' + k)
rows = open(e + '/pairs.csv').read().strip().split('\n')
check(len(rows) == 9, 'pairs.csv rows %d' % len(rows))
for r in rows[1:]:
    cols = r.split(',')
    for v in cols[3:4] + cols[6:]:
        check(math.isfinite(float(v)), 'pairs.csv value ' + v)
html = open(e + '/report.html').read()
check('data:image/png;base64,' in html and '</html>' in html, 'report.html is not self-contained')
def ncc(run):
    rows = open('%s/eval_%s/pairs.csv' % (w, run)).read().strip().split('\n')[1:]
    return {int(r.split(',')[0]): float(r.split(',')[6]) for r in rows}
one, three, pool = ncc('a1'), ncc('a3'), ncc('pool')
check(one.keys() == three.keys() == pool.keys(), 'pooled evaluation covers other training images')
for k in pool:
    check(pool[k] <= min(one[k], three[k]) + 1e-12,
          'pooling increased the NCC distance of training image %d: %g vs %g, %g' % (k, pool[k], one[k], three[k]))
check(any(pool[k] < max(one[k], three[k]) for k in pool), 'the two runs are indistinguishable')
print('smoke: all outputs present and consistent')
PY
# Reliability (issue 11), from the outside: settings that mean nothing, a directory as config,
# non-finite candidates, a model whose input size is not the dataset's. Each must fail with a
# message that says what is wrong, and leave earlier results untouched.
sum_before=$(sha256sum "$work/a1/candidates.safetensors")
for bad in attack.momentum=1 attack.lr_x=-0.1 attack.init_scale=0 attack.lambda_min=-1 \
           attack.candidates=100000000000; do
  expect_fail "--set $bad" "allowed" "$bin" attack --config "$work/tiny.ini" --set "$bad" \
    --model "$work/train/model.safetensors" --out "$work/a1" --overwrite --device "$dev" --quiet
done
[ "$(sha256sum "$work/a1/candidates.safetensors")" = "$sum_before" ] || fail "a refused attack changed a1"
expect_fail "--config DIR" "directory" "$bin" train --config "$work" --out "$work/t_dir" --quiet
python3 - "$work" <<'PY'
import json, struct, sys
w = sys.argv[1]
def rewrite(src, dst, nan_rows):
    b = open(src, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); data = bytearray(b[8 + n:])
    x = h['x']; rows, cols = x['shape']; es = 8 if x['dtype'] == 'F64' else 4
    nan = struct.pack('<d' if es == 8 else '<f', float('nan'))
    for i in nan_rows(rows):
        for k in range(cols):
            o = x['data_offsets'][0] + (i * cols + k) * es
            data[o:o + es] = nan
    open(dst, 'wb').write(b[:8 + n] + bytes(data))
rewrite(w + '/a1/candidates.safetensors', w + '/allnan.safetensors', lambda r: range(r))
rewrite(w + '/a1/candidates.safetensors', w + '/halfnan.safetensors', lambda r: range(0, r, 2))
# A model taking 10 values per image (the dataset has 784).
def t(name, shape, vals):
    return name, {'dtype': 'F64', 'shape': shape}, struct.pack('<%dd' % len(vals), *vals)
ts = [t('layers.0.weight', [4, 10], [0.1] * 40), t('layers.1.weight', [1, 4], [0.1] * 4)]
hdr, off, body = {}, 0, b''
for name, meta, raw in ts:
    meta['data_offsets'] = [off, off + len(raw)]; hdr[name] = meta; off += len(raw); body += raw
hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
open(w + '/small_model.safetensors', 'wb').write(struct.pack('<Q', len(hj)) + hj + body)
PY
expect_fail "all-NaN candidates" "no finite candidate" "$bin" evaluate --config "$work/tiny.ini" \
  --model "$work/train/model.safetensors" --candidates "$work/allnan.safetensors" \
  --out "$work/eval_nan" --device "$dev" --quiet
"$bin" evaluate --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --candidates "$work/halfnan.safetensors" --out "$work/eval_halfnan" --device "$dev" \
  2> "$work/err.txt" || fail "evaluate refused half-NaN candidates"
grep -q "contain NaN or Inf and are left out" "$work/err.txt" || fail "left-out candidates not reported"
python3 -c "
import json, sys
s = json.load(open('$work/eval_halfnan/summary.json'))
sys.exit(0 if s['n_candidates_nonfinite'] == 8 and s['n_candidates'] == 8 else 1)" \
  || fail "summary.json does not count the 8 non-finite candidates"
expect_fail "model of another input size" "values per image" "$bin" evaluate --config "$work/tiny.ini" \
  --model "$work/small_model.safetensors" --candidates "$work/a1/candidates.safetensors" \
  --out "$work/eval_small" --device "$dev" --quiet

cp -r "$work/a1" "$work/a1neg"
python3 - "$work/a1neg/candidates.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); n = struct.unpack('<Q', b[:8])[0]
o = 8 + n + json.loads(b[8:8 + n])['iteration']['data_offsets'][0]
b[o:o + 8] = struct.pack('<q', -5)
open(p, 'wb').write(bytes(b))
PY
expect_fail "a checkpoint at iteration -5" "out of range" "$bin" attack --config "$work/tiny.ini" \
  --model "$work/train/model.safetensors" --out "$work/a1neg" --resume --device "$dev" --quiet

# Run identity, locks, staging (issue 11, points 2-4): a checkpoint of another run is refused
# on --resume naming the key; a folder in use is refused naming the holder's pid; no folder or
# file of another kind is replaced without --overwrite; a killed --overwrite leaves the old run
# byte-identical.
model=$work/train/model.safetensors
att() { "$bin" attack --config "$work/tiny.ini" --model "$model" --device "$dev" --quiet "$@"; }
test -s "$work/a1/run.json" || fail "attack wrote no run.json"
python3 -c "
import json, sys
r = json.load(open('$work/a1/run.json'))
i = r['identity']
sys.exit(0 if r['command'] == 'attack' and i['attack.seed'] == '1' and len(i['model.crc32']) == 8
         and 'attack.iterations' in r['settings'] else 1)" || fail "a1/run.json lacks the identity"
cp -r "$work/a1" "$work/a1r"
expect_fail "--resume with another seed" "attack.seed: 1 vs 2" att --out "$work/a1r" --resume \
  --set attack.seed=2
expect_fail "--resume with another lr_x" "attack.lr_x: 0.1[0-9]* vs 0.2" \
  att --out "$work/a1r" --resume --set attack.lr_x=0.2
"$bin" train --config "$work/tiny.ini" --set train.seed=2 --out "$work/train2" --device "$dev" --quiet
expect_fail "--resume with another model of the same shape" "model.crc32: " \
  "$bin" attack --config "$work/tiny.ini" --model "$work/train2/model.safetensors" \
  --out "$work/a1r" --resume --device "$dev" --quiet
att --out "$work/a1r" --resume --set attack.iterations=80 --set attack.log_every=5 \
  || fail "--resume refused a longer run with another log interval"
expect_fail "--resume with --overwrite" "contradict" att --out "$work/a1r" --resume --overwrite
expect_fail "--resume of a training folder" "not an attack run" att --out "$work/train" --resume

# Locks: a folder held by another process (flock from util-linux, deterministic), then a real
# second attack while the first still runs.
sums() { (cd "$1" && sha256sum $(ls)); }
before=$(sums "$work/a1")
(
  exec 9> "$work/a1/.kktrecon.lock"
  flock -n 9 || exit 3
  echo "$BASHPID" >&9
  expect_fail "an attack on a locked folder" "in use by another kktrecon run (pid $BASHPID" \
    att --out "$work/a1" --resume --set attack.iterations=80
) || fail "the lock test failed"
[ "$(sums "$work/a1")" = "$before" ] || fail "a refused attack changed a1"
"$bin" attack --config "$work/tiny.ini" --model "$model" --device "$dev" --quiet \
  --out "$work/slow" --set attack.iterations=100000000 --set attack.checkpoint_every=1000 &
slow=$!
for _ in $(seq 100); do [ -s "$work/slow/.kktrecon.lock" ] && break; sleep 0.1; done
expect_fail "a second attack on a busy folder" "pid $slow" att --out "$work/slow" --overwrite
kill -KILL "$slow"; wait "$slow" || true

# Other kinds, without --overwrite.
before=$(sums "$work/train")
expect_fail "attack into a training folder" "holds a training run" att --out "$work/train"
[ "$(sums "$work/train")" = "$before" ] || fail "a refused attack changed the training folder"
test ! -e "$work/train/.staging" -a ! -e "$work/train/.kktrecon.lock" || fail "leftovers in train"
expect_fail "train into an attack folder" "holds an attack run" \
  "$bin" train --config "$work/tiny.ini" --out "$work/a1" --device "$dev" --quiet
expect_fail "a file as --out" "is a file" att --out "$work/tiny.ini"
cp "$model" "$work/model_copy.safetensors"
msum=$(sha256sum < "$work/model_copy.safetensors")
expect_fail "kkt --out onto an existing file" "already exists" "$bin" kkt --model "$model" \
  --candidates "$work/a1/candidates.safetensors" --alpha 19.2 --lambda-min 0.42 \
  --out "$work/model_copy.safetensors" --device "$dev" --quiet
[ "$(sha256sum < "$work/model_copy.safetensors")" = "$msum" ] || fail "kkt replaced a model"
before=$(sums "$work/eval_a1")
expect_fail "evaluate onto a previous report" "already holds an evaluation report" \
  "$bin" evaluate --config "$work/tiny.ini" --model "$model" --candidates "$work/a3/candidates.safetensors" \
  --out "$work/eval_a1" --device "$dev" --quiet
[ "$(sums "$work/eval_a1")" = "$before" ] || fail "a refused evaluate changed the report"
"$bin" evaluate --config "$work/tiny.ini" --model "$model" --candidates "$work/a3/candidates.safetensors" \
  --out "$work/eval_a1" --device "$dev" --quiet --overwrite || fail "evaluate --overwrite failed"
grep -q "a3/candidates.safetensors" "$work/eval_a1/run.json" || fail "evaluate --overwrite kept the old report"

# A killed --overwrite (before its first checkpoint, at 20) leaves the old run byte-identical;
# one that reaches its checkpoint replaces it whole.
cp -r "$work/a1" "$work/a1o"
rm -f "$work/a1o/.kktrecon.lock"
before=$(sums "$work/a1o")
set +e
KKTRECON_TEST_KILL_AT=5 att --out "$work/a1o" --overwrite --set attack.seed=7
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the killed attack exited 0"
[ "$(sums "$work/a1o")" = "$before" ] || fail "a killed attack --overwrite changed the old run"
expect_fail "--overwrite diverging before its first checkpoint" "nothing was written" \
  att --out "$work/a1o" --overwrite --set attack.lr_x=1e200
[ "$(sums "$work/a1o")" = "$before" ] || fail "a diverged attack --overwrite changed the old run"
att --out "$work/a1o" --resume || fail "the kept run no longer resumes"
KKTRECON_TEST_KILL_AT=30 att --out "$work/a1o" --overwrite --set attack.seed=7 || true
grep -Eq '"attack.seed":[[:space:]]*"7"' "$work/a1o/run.json" || fail "the checkpointed --overwrite was not switched in"
test ! -e "$work/a1o/attack.json" || fail "the old attack.json survived the switch"
att --out "$work/a1o" --resume --set attack.seed=7 || fail "the switched-in run does not resume"

# Command-line leftovers: each refused with a precise message, and no empty folder left.
expect_fail "bench --reps abc" "reps 'abc'" "$bin" bench --reps abc --device "$dev"
expect_fail "kkt --alpha abc" "alpha 'abc': expected a finite number" "$bin" kkt --model "$model" \
  --candidates "$work/a1/candidates.safetensors" --alpha abc --lambda-min 0.42 --out "$work/g2.safetensors"
expect_fail "kkt --precision half" "precision 'half'" "$bin" kkt --model "$model" \
  --candidates "$work/a1/candidates.safetensors" --alpha 1 --lambda-min 0.42 --precision half \
  --out "$work/g2.safetensors"
python3 - "$work" <<'PY'
import json, struct, sys
w = sys.argv[1]
def edit(src, dst, name, index, value):
    b = bytearray(open(src, 'rb').read()); n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); t = h[name]; es = 8 if t['dtype'] == 'F64' else 4
    o = 8 + n + t['data_offsets'][0] + index * es
    b[o:o + es] = struct.pack('<d' if es == 8 else '<f', value)
    open(dst, 'wb').write(bytes(b))
edit(w + '/a1/candidates.safetensors', w + '/xnan.safetensors', 'x', 3, float('nan'))
edit(w + '/a1/candidates.safetensors', w + '/y2.safetensors', 'y', 1, 2.0)
edit(w + '/train/model.safetensors', w + '/nan_model.safetensors', 'layers.1.weight', 7, float('inf'))
PY
for bad in "xnan:'x' row 0, value 3 is nan" "y2:'y' element 1 is 2: labels must be -1 or +1"; do
  expect_fail "kkt on ${bad%%:*}" "${bad#*:}" "$bin" kkt --model "$model" \
    --candidates "$work/${bad%%:*}.safetensors" --alpha 19.2 --lambda-min 0.42 \
    --out "$work/g_${bad%%:*}.safetensors" --device "$dev" --quiet
  test ! -e "$work/g_${bad%%:*}.safetensors" || fail "kkt wrote a result for ${bad%%:*}"
done
model=$work/nan_model.safetensors
expect_fail "a model with an Inf weight" "tensor 'layers.1.weight' element 7 is inf" \
  att --out "$work/a_nanmodel"
test ! -e "$work/a_nanmodel" || fail "a failed attack left its output folder"
expect_fail "evaluate of a missing candidates file" "nosuch" "$bin" evaluate --config "$work/tiny.ini" \
  --model "$work/train/model.safetensors" --candidates "$work/nosuch.safetensors" \
  --out "$work/e_missing" --device "$dev" --quiet
test ! -e "$work/e_missing" || fail "a failed evaluate left its output folder"
expect_fail "train on a missing dataset" "nosuchdata" "$bin" train --config "$work/tiny.ini" \
  --set data.path="$work/nosuchdata" --out "$work/t_missing" --device "$dev" --quiet
test ! -e "$work/t_missing" || fail "a failed train left its output folder"

# The known-answer self-test (issue 8): a deliberately broken kernel on the OpenCL device is
# named by `devices --check` and stops a training run before it starts.
if "$bin" devices | grep -q "^1 "; then
  if KKTRECON_TEST_CORRUPT_KERNEL=ops_mul "$bin" devices --check > "$work/check.txt" 2>&1; then
    fail "devices --check passed a device with a broken kernel"
  fi
  grep -q "^check 1 float32  FAILED: .*ops_mul" "$work/check.txt" || fail "devices --check: $(cat "$work/check.txt")"
  grep -q "^check 0 float32  ok" "$work/check.txt" || fail "devices --check failed the host too"
  KKTRECON_TEST_CORRUPT_KERNEL=ops_mul expect_fail "training on a broken device" "self-test FAILED" \
    "$bin" train --config "$work/tiny.ini" --out "$work/t_broken" --device 1 --quiet
  [ ! -e "$work/t_broken" ] || fail "a refused training left $work/t_broken"
fi

# Many points in one device job (attack.points_file): each point's candidates equal a separate
# attack with the same values (float64: to 1e-10 relative), a diverging point is isolated, and
# a bad points file is refused with its line and column.
cat > "$work/points.csv" <<CSV
# init_scale, lr_x, lambda_min, alpha, seed
init_scale, lr_x, lambda_min, alpha, seed
0.01, 0.1, 0.42, 19.2, 1
0.02, 0.05, 0.3, 40, 7
0.01, 1e200, 0.42, 19.2, 3
CSV
"$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/pts" \
  --set attack.points_file="$work/points.csv" --set attack.iterations=30 --device "$dev" --quiet \
  || fail "attack with a points file"
"$bin" attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/pt1" \
  --set attack.iterations=30 --set attack.init_scale=0.02 --set attack.lr_x=0.05 \
  --set attack.lambda_min=0.3 --set attack.alpha=40 --set attack.seed=7 --device "$dev" --quiet \
  || fail "single attack for the points comparison"
python3 - "$work" <<'PY' || fail "points differ from single runs"
import json, math, struct, sys
w = sys.argv[1]
def st(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    def get(k):
        t = h[k]; raw = b[8 + n + t['data_offsets'][0]:8 + n + t['data_offsets'][1]]
        return struct.unpack('<%d%s' % (len(raw) // (8 if t['dtype'] == 'F64' else 4),
                                        'd' if t['dtype'] == 'F64' else 'f'), raw)
    return get
a, b = st(w + '/pts/points/0001/candidates.safetensors'), st(w + '/pt1/candidates.safetensors')
for k in ('x', 'lambda'):
    x, y = a(k), b(k)
    err = max(abs(p - q) for p, q in zip(x, y)) / max(max(abs(q) for q in y), 1e-300)
    assert len(x) == len(y) and err <= 1e-10, (k, err)
p2 = json.load(open(w + '/pts/points/0002/point.json'))
assert p2['status'] == 'diverged', p2
assert json.load(open(w + '/pts/points/0000/point.json'))['status'] == 'done'
s = json.load(open(w + '/pts/attack.json'))
assert s['points'] == 3 and s['diverged'] == 1, s
PY
"$bin" evaluate --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --candidates "$work/pts/points/0000/candidates.safetensors" \
  --candidates "$work/pts/points/0001/candidates.safetensors" --out "$work/eval_pts" \
  --device "$dev" --quiet || fail "evaluate on points' candidates"
printf 'lr_x, colour\n0.1, 3\n' > "$work/badpts.csv"
expect_fail "a points file with an unknown column" "unknown column 'colour'" "$bin" attack \
  --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/badpts" \
  --set attack.points_file="$work/badpts.csv" --device "$dev" --quiet
printf 'lr_x, alpha\n0.1, 3\n0.2, abc\n' > "$work/badpts.csv"
expect_fail "a points file with a bad number" "badpts.csv:3: column 2 (alpha): 'abc'" "$bin" attack \
  --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/badpts" \
  --set attack.points_file="$work/badpts.csv" --device "$dev" --quiet
printf 'lr_x, momentum\n0.1, 1.5\n' > "$work/badpts.csv"
expect_fail "a point out of range" "point 0" "$bin" attack \
  --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/badpts" \
  --set attack.points_file="$work/badpts.csv" --device "$dev" --quiet

echo "smoke: ok"
