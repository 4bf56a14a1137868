#!/usr/bin/env bash
# sweep.sh — `kktrecon sweep` end to end on a tiny model (the bundled MNIST subset, 784-16-16-1,
# float64, 40 iterations per point): a sweep's points equal separate attacks with the same
# values and seeds; a diverging point is isolated (the others bit for bit as without it); a
# sweep SIGKILLed mid-batch and resumed equals an uninterrupted one bit for bit (its batch
# started over when the checkpoint is damaged); raising
# sweep.points keeps the first points; successive halving (sweep.prune) stops the points the
# logged losses rank worse and resumes bit for bit; Adam per point equals separate Adam
# attacks and resumes bit for bit; bad distributions, unknown keys, a changed identity on
# --resume and a locked folder are refused with clear messages; with MPI (KKTRECON_MPI=1, set
# by meson when built with it) `mpirun -np 2 --oversubscribe` gives the same sweep as one
# process.
# Usage: sweep.sh PATH/TO/kktrecon
set -euo pipefail
bin=$1
src=${KKTRECON_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
dev=${KKTRECON_SMOKE_DEVICE:-host}
. "$src/tests/lib.sh"
kr_test_begin sweep
# Bit-exact comparisons need the same thread count everywhere (OpenMP reductions).
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

kr_tiny_ini "$work/tiny.ini"
cat >> "$work/tiny.ini" <<INI
[attack]
iterations = 40
lambda_min = 0.42
precision = double
checkpoint_every = 10
log_every = 10
[sweep]
points = 6
batch = 2
seed = 5
init_scale = log:1e-3,0.05
lr_x = log:1e-2,0.3
INI
run() { "$bin" "$@" --device "$dev" --quiet; }
sweep() { run sweep --config "$work/tiny.ini" --model "$work/train/model.safetensors" "$@"; }

"$bin" sweep --help > "$work/help.txt"   # a file, not a pipe to grep -q (SIGPIPE, pipefail)
grep -q "^usage: kktrecon sweep" "$work/help.txt" || fail "sweep --help"
"$bin" help config > "$work/help.txt"
grep -q "sweep.lr_x" "$work/help.txt" || fail "help config lacks sweep.lr_x"
run train --config "$work/tiny.ini" --out "$work/train"

# Bad distributions and unknown keys: refused before anything is written.
expect_fail "log with LO <= 0" "log distribution needs LO > 0" sweep --out "$work/bad" --set sweep.lr_x=log:0,1
expect_fail "LO above HI" "LO must be below HI" sweep --out "$work/bad" --set sweep.alpha=uniform:5,1
expect_fail "an unknown distribution" "unknown distribution 'normal'" sweep --out "$work/bad" --set sweep.alpha=normal:1,2
expect_fail "a bad list value" "list value 2 'x'" sweep --out "$work/bad" --set sweep.init_scale=list:0.1,x
expect_fail "a value outside attack's range" "attack.lambda_min = -1 is out of range" sweep --out "$work/bad" \
  --set sweep.lambda_min=uniform:-1,1
expect_fail "an unknown [sweep] key" "unknown key" sweep --out "$work/bad" --set sweep.pointz=3
printf '[sweep]\npoints = 4\nbatchsize = 2\n' > "$work/badkey.ini"
expect_fail "an unknown key in a file" "badkey.ini:3: unknown key 'sweep.batchsize'" "$bin" sweep \
  --config "$work/badkey.ini" --model "$work/train/model.safetensors" --out "$work/bad" --quiet
expect_fail "a bad batch" "sweep.batch = 'many'" sweep --out "$work/bad" --set sweep.batch=many
expect_fail "a device twice" "names 'host' twice" "$bin" sweep --config "$work/tiny.ini" \
  --model "$work/train/model.safetensors" --out "$work/bad" --devices host,host --quiet
test ! -e "$work/bad" || fail "a refused sweep left $work/bad"

# The reference sweep, then the same sweep killed at iteration 25 of its first batch (its
# checkpoint at 20 survives) and resumed: every point's final candidates equal bit for bit.
sweep --out "$work/s1"
set +e
KKTRECON_TEST_KILL_AT=25 "$bin" sweep --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --out "$work/s2" --device "$dev" --quiet 2> /dev/null
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the killed sweep exited 0"
test -s "$work/s2/batches/0000.safetensors" || fail "no batch checkpoint after the kill"
grep -q '"running"' "$work/s2/sweep.json" || fail "the killed sweep's manifest shows nothing running"
expect_fail "a second sweep on a folder holding one" "holds a sweep" sweep --out "$work/s2"
sweep --out "$work/s2" --resume
# A locked folder: another process holds its lock.
flock "$work/s2/.kktrecon.lock" -c "$bin sweep --config $work/tiny.ini --model $work/train/model.safetensors --out $work/s2 --resume --device $dev --quiet" \
  2> "$work/err.txt" && fail "a sweep on a locked folder was accepted"
grep -q "in use by another kktrecon run" "$work/err.txt" || fail "locked folder: $(cat "$work/err.txt")"
expect_fail "--resume with another seed" "sweep.seed: 5 vs 6" sweep --out "$work/s2" --resume --set sweep.seed=6
# A damaged batch checkpoint costs that batch's progress, not the sweep: it starts over.
set +e
KKTRECON_TEST_KILL_AT=25 "$bin" sweep --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --out "$work/s3" --device "$dev" --quiet 2> /dev/null
set -e
head -c 100 "$work/s3/batches/0000.safetensors" > "$work/cut" && mv "$work/cut" "$work/s3/batches/0000.safetensors"
"$bin" sweep --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/s3" \
  --device "$dev" --resume 2> "$work/err.txt" > /dev/null || fail "resume over a damaged checkpoint: $(cat "$work/err.txt")"
grep -q "0000.safetensors.*the batch starts over" "$work/err.txt" || fail "no warning about the damaged checkpoint"

# Raising sweep.points keeps the first points: a 4-point sweep resumed with 6 runs 2 more, and
# equals the 6-point sweep.
sweep --out "$work/s4" --set sweep.points=4
sweep --out "$work/s4" --resume 2>&1 | tee /dev/null
expect_fail "lowering sweep.points on --resume" "only grows" sweep --out "$work/s4" --resume --set sweep.points=3

if [ "${KKTRECON_MPI:-0}" = 1 ]; then
  command -v mpirun > /dev/null || fail "built with MPI but no mpirun (apt-get install openmpi-bin)"
  # Containers often forbid the cross-process memory copy of the shared-memory transport.
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
    OMPI_MCA_btl_vader_single_copy_mechanism=none \
    timeout 300 mpirun -np 2 --oversubscribe "$bin" sweep --config "$work/tiny.ini" \
    --model "$work/train/model.safetensors" --out "$work/s_mpi" --device "$dev" --quiet \
    || fail "mpirun -np 2 sweep"
  mpi=s_mpi
else
  echo "sweep: built without MPI: the mpirun case is skipped"
  mpi=
fi

# Explicit points: a sweep of 3 points with point 1 diverging, and the same with point 1 sane.
printf 'init_scale, lr_x, lambda_min, alpha, seed\n0.01, 0.1, 0.42, 19.2, 1\n0.01, 1e200, 0.42, 19.2, 3\n0.02, 0.05, 0.3, 40, 7\n' > "$work/pdiv.csv"
printf 'init_scale, lr_x, lambda_min, alpha, seed\n0.01, 0.1, 0.42, 19.2, 1\n0.01, 0.01, 0.42, 19.2, 3\n0.02, 0.05, 0.3, 40, 7\n' > "$work/pok.csv"
sweep --out "$work/sdiv" --set sweep.points_file="$work/pdiv.csv" --set sweep.batch=3 --set sweep.points=3
sweep --out "$work/sok" --set sweep.points_file="$work/pok.csv" --set sweep.batch=3 --set sweep.points=3

# Separate attacks with each sweep point's values and seed (from its point.json).
for p in 0 1 2; do
  set -- $(python3 -c "import json,sys; v=json.load(open(sys.argv[1]))['values']; print(' '.join('--set attack.%s=%r' % (k, int(v[k]) if k == 'seed' else v[k]) for k in ('init_scale','lr_x','lambda_min','alpha','seed')))" \
    "$work/s1/points/000$p/point.json")
  run attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/a$p" "$@"
done

PYTHONPATH="$src/tests" python3 - "$work" "$mpi" <<'PY' || fail "sweep results"
import csv, json, sys
from safetensors_raw import tensors, f64
w, mpi = sys.argv[1], sys.argv[2]
def cand(run, p): return tensors('%s/%s/points/%04d/candidates.safetensors' % (w, run, p))
def same(a, b, what):
    for p in range(6):
        x, y = cand(a, p), cand(b, p)
        for k in ('x', 'lambda', 'opt.x.buf', 'opt.lambda.buf'):
            assert x[k] == y[k], '%s: point %d tensor %s differs' % (what, p, k)
man = json.load(open(w + '/s1/sweep.json'))
assert [q['status'] for q in man['points']] == ['done'] * 6, man['points']
assert [b['points'] for b in man['batches']] == [[0, 1], [2, 3], [4, 5]], man['batches']
same('s1', 's2', 'killed and resumed sweep vs uninterrupted')
same('s1', 's3', 'sweep resumed over a damaged checkpoint vs uninterrupted')
same('s1', 's4', 'sweep grown from 4 to 6 points vs 6 points')
if mpi: same('s1', mpi, 'mpirun -np 2 vs one process')
# P points of the sweep equal P separate attacks (the batched engine's tolerance, float64).
for p in range(3):
    a, b = cand('s1', p), tensors('%s/a%d/candidates.safetensors' % (w, p))
    for k in ('x', 'lambda'):
        x, y = f64(a[k]), f64(b[k])
        err = max(abs(u - v) for u, v in zip(x, y)) / max(max(abs(v) for v in y), 1e-300)
        assert len(x) == len(y) and err <= 1e-10, ('sweep point vs attack', p, k, err)
# The diverging point failed with its reason; the others equal the sweep without it bit for bit.
dm = json.load(open(w + '/sdiv/sweep.json'))['points']
assert [q['status'] for q in dm] == ['done', 'failed', 'done'], dm
assert 'diverged' in dm[1]['reason'], dm[1]
for p in (0, 2):
    x, y = tensors('%s/sdiv/points/%04d/candidates.safetensors' % (w, p)), tensors('%s/sok/points/%04d/candidates.safetensors' % (w, p))
    assert x['x'] == y['x'] and x['lambda'] == y['lambda'], 'point %d not isolated from the diverging one' % p
rows = list(csv.DictReader(open(w + '/sdiv/sweep.csv')))
assert rows[1]['status'] == 'failed' and 'diverged' in rows[1]['reason'], rows[1]
# sweep.csv: values of point i do not depend on the number of points; quality columns filled.
r1, r4 = list(csv.DictReader(open(w + '/s1/sweep.csv'))), list(csv.DictReader(open(w + '/s4/sweep.csv')))
for a, b in zip(r1, r4):
    assert all(a[k] == b[k] for k in ('init_scale', 'lr_x', 'lambda_min', 'alpha', 'seed')), (a, b)
assert sum(int(r['matched']) for r in r1) == 8, 'every training image matched once'
s = json.load(open(w + '/s1/evaluate/summary.json'))
assert s['n_candidates'] == 6 * 16 and s['n_train'] == 8, s
PY
# Top-k pooling in evaluate: the 2 best of the 6 points by their quality alone are the two
# with the highest alone_clip_mean in sweep.csv.
cands=()
for p in 0 1 2 3 4 5; do cands+=(--candidates "$work/s1/points/000$p/candidates.safetensors"); done
run evaluate --config "$work/tiny.ini" --model "$work/train/model.safetensors" "${cands[@]}" \
  --top-k 2 --out "$work/ev_top"
expect_fail "a bad --top-by" "expected clip_mean" "$bin" evaluate --config "$work/tiny.ini" \
  --model "$work/train/model.safetensors" "${cands[@]}" --top-k 2 --top-by best --out "$work/ev_bad"
python3 - "$work" <<'PY' || fail "top-k pooling"
import csv, json, sys
w = sys.argv[1]
rows = list(csv.DictReader(open(w + '/s1/sweep.csv')))
best = sorted(range(6), key=lambda i: -float(rows[i]['alone_clip_mean']))[:2]
s = json.load(open(w + '/ev_top/summary.json'))
got = sorted(int(f.split('/points/')[1][:4]) for f in s['candidate_files'])
assert s['top_k'] == 2 and s['files_given'] == 6 and got == sorted(best), (got, best)
assert s['n_candidates'] == 2 * 16, s['n_candidates']
PY
# Successive halving (sweep.prune = loss): batches of 4 and 2, rungs at iterations 4 and 12
# (logged every 2 iterations, so the unpruned sweep logs them too). The pruned points are
# those the unpruned sweep's logged losses rank in the worse half at each rung, with their
# losses then; the survivors' final candidates equal the unpruned sweep's (float64, 1e-10: a
# smaller job after each rung); killed between rungs and resumed, the pruned sweep is
# bit-identical; the pool holds the survivors only.
expect_fail "a bad sweep.prune" "sweep.prune = 'lambda'" sweep --out "$work/bad" --set sweep.prune=lambda
halving=(--set sweep.batch=4 --set attack.log_every=2)
sweep --out "$work/sq" "${halving[@]}"
sweep --out "$work/sp" "${halving[@]}" --set sweep.prune=loss
for k in 11 25; do
  set +e
  KKTRECON_TEST_KILL_AT=$k "$bin" sweep --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
    --out "$work/sp$k" --device "$dev" --quiet "${halving[@]}" --set sweep.prune=loss 2> /dev/null
  rc=$?
  set -e
  [ "$rc" -ne 0 ] || fail "the pruned sweep killed at $k exited 0"
  expect_fail "--resume without the pruning" "sweep.prune" sweep --out "$work/sp$k" --resume "${halving[@]}"
  sweep --out "$work/sp$k" --resume "${halving[@]}" --set sweep.prune=loss
done
PYTHONPATH="$src/tests" python3 - "$work" <<'PY' || fail "successive halving"
import json, sys
from safetensors_raw import tensors, f64
w = sys.argv[1]
def logged(p, it):
    for line in open('%s/sq/points/%04d/attack.jsonl' % (w, p)):
        e = json.loads(line)
        if e['iteration'] == it: return e['loss']
    raise AssertionError('no log line at %d for point %d' % (it, p))
expect = {}
for batch in ([0, 1, 2, 3], [4, 5]):
    live = batch
    for rung in (4, 12):
        order = sorted(range(len(live)), key=lambda k: (logged(live[k], rung), k))
        keep = sorted(order[:(len(live) + 1) // 2])
        for k in range(len(live)):
            if k not in keep: expect[live[k]] = rung
        live = [live[k] for k in keep]
man = json.load(open(w + '/sp/sweep.json'))['points']
got = {q['point']: q['status'] for q in man}
for p in range(6):
    assert got[p] == ('pruned' if p in expect else 'done'), (p, got, expect)
    pj = json.load(open('%s/sp/points/%04d/point.json' % (w, p)))
    a, b = tensors('%s/sp/points/%04d/candidates.safetensors' % (w, p)), None
    if p in expect:
        assert pj['status'] == 'pruned' and pj['iterations'] == expect[p], pj
        ref = logged(p, expect[p])
        assert abs(pj['loss'] - ref) <= 1e-9 * abs(ref), (p, pj['loss'], ref)
    else:
        b = tensors('%s/sq/points/%04d/candidates.safetensors' % (w, p))
        for k in ('x', 'lambda'):
            x, y = f64(a[k]), f64(b[k])
            err = max(abs(u - v) for u, v in zip(x, y)) / max(max(abs(v) for v in y), 1e-300)
            assert err <= 1e-10, ('survivor vs unpruned', p, k, err)
    for run in ('sp11', 'sp25'):
        c = tensors('%s/%s/points/%04d/candidates.safetensors' % (w, run, p))
        assert all(a[k] == c[k] for k in ('x', 'lambda', 'opt.x.buf', 'opt.lambda.buf')), (run, p)
assert 0 < len(expect) < 6, expect
s = json.load(open(w + '/sp/evaluate/summary.json'))
assert s['n_candidates'] == (6 - len(expect)) * 16, s['n_candidates']
PY

# Adam per point: a sweep with attack.optimizer = adam equals separate Adam attacks (float64,
# 1e-10, second moments included), and killed mid-batch it resumes bit for bit.
adam=(--set attack.optimizer=adam --set sweep.points_file="$work/pok.csv" --set sweep.batch=3
      --set sweep.points=3)
sweep --out "$work/sadam" "${adam[@]}"
set +e
KKTRECON_TEST_KILL_AT=25 "$bin" sweep --config "$work/tiny.ini" --model "$work/train/model.safetensors" \
  --out "$work/sadam2" --device "$dev" --quiet "${adam[@]}" 2> /dev/null
set -e
sweep --out "$work/sadam2" --resume "${adam[@]}"
for p in 0 1 2; do
  set -- $(python3 -c "import json,sys; v=json.load(open(sys.argv[1]))['values']; print(' '.join('--set attack.%s=%r' % (k, int(v[k]) if k == 'seed' else v[k]) for k in ('init_scale','lr_x','lambda_min','alpha','seed')))" \
    "$work/sadam/points/000$p/point.json")
  run attack --config "$work/tiny.ini" --model "$work/train/model.safetensors" --out "$work/adam$p" \
    --set attack.optimizer=adam "$@"
done
PYTHONPATH="$src/tests" python3 - "$work" <<'PY' || fail "adam per point"
import json, sys
from safetensors_raw import tensors, f64
w = sys.argv[1]
for p in range(3):
    a = tensors('%s/sadam/points/%04d/candidates.safetensors' % (w, p))
    b = tensors('%s/adam%d/candidates.safetensors' % (w, p))
    c = tensors('%s/sadam2/points/%04d/candidates.safetensors' % (w, p))
    for k in ('x', 'lambda', 'opt.x.buf', 'opt.lambda.buf', 'opt.x.v', 'opt.lambda.v'):
        x, y = f64(a[k]), f64(b[k])
        err = max(abs(u - v) for u, v in zip(x, y)) / max(max(abs(v) for v in y), 1e-300)
        assert len(x) == len(y) and err <= 1e-10, ('adam sweep point vs attack', p, k, err)
        assert a[k] == c[k], ('adam sweep killed and resumed', p, k)
PY

for f in sweep.png evaluate/report.html evaluate/grid.png; do
  test -s "$work/s1/$f" || fail "no $f"
done
grep -q "Sweep" "$work/s1/evaluate/report.html" || fail "the report has no sweep section"
test -z "$(ls "$work/s1/batches")" || fail "finished batches left checkpoints"
echo "sweep: ok"
