#!/bin/bash
# tune.sh — `kktrecon tune` end to end on the OpenCL device (PoCL in CI), in a cache folder of
# its own (the suite's shared one must not start holding a plan):
#   - one candidate (KKTRECON_TUNE_ONLY) at a tiny size: exit 0, the defaults and that
#     candidate measured, the stored plan named, and `devices --check` reports that plan;
#   - products that are wrong (KKTRECON_TEST_CORRUPT_KERNEL=gemm) are caught by the float64
#     check and nothing is stored; a time limit too short stops the measurement, stores nothing;
#   - the host has nothing to tune; bad flags and an unknown device are refused.
# Skips (77) without an OpenCL device.
set -u
kktrecon=$1
. "$(dirname "$0")/lib.sh"
kr_test_begin tune
# The suite's compiled ops.cl comes along (only the GEMM plans must start empty).
mkdir -p "$work/cache"
[ -n "${KKTRECON_CACHE_DIR:-}" ] && cp "$KKTRECON_CACHE_DIR"/ops-*.clbin "$work/cache/" 2>/dev/null
export KKTRECON_CACHE_DIR=$work/cache

idx=$("$kktrecon" devices --quiet | awk 'NR > 1 && $3 != "host" { print $1; exit }')
[ -n "$idx" ] || { echo "tune: no OpenCL device; skipped"; exit 77; }
tiny=(--device "$idx" --precision single --size 48-16-16:7 --repeat 1)

expect_fail "--repeat 0" "whole number" "$kktrecon" tune "${tiny[@]}" --repeat 0
expect_fail "--budget 0" "budget" "$kktrecon" tune "${tiny[@]}" --budget 0
expect_fail "an unknown device" "device 99" "$kktrecon" tune --device 99 --precision single
"$kktrecon" tune --device host > "$work/host.txt" || fail "tune --device host failed"
grep -q "nothing to tune" "$work/host.txt" || fail "host: $(cat "$work/host.txt")"

# Wrong products: the defaults' own check fails, nothing is stored.
if KKTRECON_TEST_CORRUPT_KERNEL=gemm KKTRECON_TUNE_ONLY=3 "$kktrecon" tune "${tiny[@]}" \
    > "$work/wrong.txt" 2> "$work/wrong.err"; then
  fail "wrong products were accepted: $(cat "$work/wrong.txt")"
fi
grep -q "not used: wrong .*float64 says" "$work/wrong.txt" || fail "wrong: $(cat "$work/wrong.txt")"
grep -q "GEMMs could not be measured" "$work/wrong.err" || fail "wrong: $(cat "$work/wrong.err")"
# Too short a time: stopped, nothing stored.
expect_fail "a 10 ms budget" "GEMMs could not be measured" "$kktrecon" tune "${tiny[@]}" --budget 0.01
ls "$work/cache"/gemmplan-* > /dev/null 2>&1 && fail "a failed tune stored a plan"

# One candidate, end to end.
KKTRECON_TUNE_ONLY=3 "$kktrecon" tune "${tiny[@]}" > "$work/tune.txt" 2> "$work/tune.err" \
    || fail "tune failed: $(cat "$work/tune.err" "$work/tune.txt")"
[ "$(grep -c "x  (checked and compiled in" "$work/tune.txt")" = 2 ] \
    || fail "expected two measured lines (defaults, candidate 3): $(cat "$work/tune.txt")"
grep -q "again, alternately" "$work/tune.txt" || fail "no confirmation: $(cat "$work/tune.txt")"
stored=$(sed -n 's/^  stored: //p' "$work/tune.txt")
[ -n "$stored" ] || fail "nothing stored: $(cat "$work/tune.txt")"
ls "$work/cache"/gemmplan-* > /dev/null || fail "no plan file in the cache folder"
"$kktrecon" devices --check --quiet > "$work/check.txt" || fail "devices --check failed"
line=$(grep "^check $idx float32" "$work/check.txt")
if [ "$stored" = defaults ]; then
  echo "$line" | grep -q "GEMM: CLBlast defaults" || fail "defaults stored, but: $line"
else
  echo "$line" | grep -qF "GEMM: tuned: $stored" || fail "'$stored' stored, but: $line"
fi
KKTRECON_GEMM_TUNING=off "$kktrecon" devices --check --quiet | grep "^check $idx float32" \
  | grep -q "KKTRECON_GEMM_TUNING=off" || fail "KKTRECON_GEMM_TUNING=off not honoured"
echo "tune: ok (stored: $stored)"
