#!/usr/bin/env bash
# sweep_throughput.sh — points per second of `kktrecon sweep` against the same points run as
# separate `kktrecon attack` processes, one after the other (hand-run; not part of CI).
#
#   tests/sweep_throughput.sh [DEVICE (host)] [POINTS (8)] [ITERATIONS (1000)] [BUILD (build)]
#
# The demo's model (configs/mnist_sweep_small.ini: 784-200-200-1, 40 candidates per point,
# float64) is trained once on the host; then the sweep's first POINTS points run (1) as POINTS separate
# attacks with each point's values and seed, (2) as one sweep with sweep.batch = 1 (one point
# per device job) and (3) as one sweep with sweep.batch = POINTS (all in one batched job).
# Prints the wall time and points per second of each. Timings on shared machines are noisy:
# run it twice and name the CPU (lscpu) next to any figure you publish.
set -euo pipefail
dev=${1:-host}
P=${2:-8}
it=${3:-1000}
build=${4:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$src/$build/kktrecon
cfg=$src/configs/mnist_sweep_small.ini
work=$(mktemp -d /tmp/kktrecon-throughput.XXXXXX)
trap 'rm -rf "$work"' EXIT
common=(--config "$cfg" --device "$dev" --quiet --set attack.iterations="$it" --set sweep.points="$P"
        --set attack.checkpoint_every=0)
"$bin" train --config "$cfg" --out "$work/train" --device host --quiet > /dev/null # not timed
model=$work/train/model.safetensors
now() { date +%s.%N; }

t0=$(now)
"$bin" sweep "${common[@]}" --model "$model" --out "$work/s1" --set sweep.batch=1 > /dev/null
t1=$(now)
"$bin" sweep "${common[@]}" --model "$model" --out "$work/sP" --set sweep.batch="$P" > /dev/null
t2=$(now)
for ((p = 0; p < P; p++)); do
  set -- $(python3 -c "import json,sys; v=json.load(open(sys.argv[1]))['values']; print(' '.join('--set attack.%s=%r' % (k, int(v[k]) if k == 'seed' else v[k]) for k in ('init_scale','lr_x','lambda_min','alpha','seed')))" \
    "$(printf '%s/s1/points/%04d/point.json' "$work" "$p")")
  "$bin" attack "${common[@]}" --model "$model" --out "$work/a$p" "$@" > /dev/null
done
t3=$(now)
python3 - "$P" "$it" "$dev" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
P, it, dev = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0, t1, t2, t3 = map(float, sys.argv[4:])
print('%d points x %d iterations on %s (sweeps include their pooled evaluation)' % (P, it, dev))
for name, s in (('separate attacks, one after the other', t3 - t2), ('sweep, batch 1', t1 - t0),
                ('sweep, batch %d' % P, t2 - t1)):
    print('%-40s %8.1f s  %6.3f points/s  %5.2fx' % (name, s, P / s, (t3 - t2) / s))
PY
