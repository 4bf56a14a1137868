#!/usr/bin/env bash
# bench_smoke.sh — `kktrecon bench` end to end, fast (tiny sizes, one pair, no time budget):
#   1. the kktrecon-bench/1 JSON round trip: bench --json on the host, read back, every key of
#      docs/bench-schema.md present with its type;
#   2. --compare on synthetic files written here (two machines, three devices, one FAILED, one
#      without fp64): page, table and charts (valid PNGs) exist and say what they must;
#   3. the self-test gate: with a broken ops_mul on OpenCL device 1 (test-only switch
#      KKTRECON_TEST_CORRUPT_KERNEL), bench shows FAILED, exits 1 and records no timings.
# Never asserts on timings. Usage: bench_smoke.sh PATH/TO/kktrecon
set -euo pipefail
bin=$1
src=${KKTRECON_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$src/tests/lib.sh"
kr_test_begin bench_smoke

# 1. JSON round trip on the host, a tiny custom size.
"$bin" bench --device host --size 32-8-8:6 --what train,attack,points,start --repeat 1 --budget 0 \
  --json "$work/host.json" \
  --quiet > "$work/host.txt" || fail "bench on host: $(cat "$work/host.txt")"
grep -q "self-test: passed" "$work/host.txt" || fail "no self-test line: $(cat "$work/host.txt")"
grep -q "^float64  attack iter m=6 32-8-8-1" "$work/host.txt" || fail "no attack row: $(cat "$work/host.txt")"
python3 - "$work/host.json" <<'PY' || fail "schema round trip"
import json, sys
j = json.load(open(sys.argv[1]))
def need(o, key, types):
    assert key in o, f"missing {key}"
    assert isinstance(o[key], types), f"{key}: {type(o[key]).__name__}"
    return o[key]
num = (int, float)
assert need(j, "schema", str) == "kktrecon-bench/1"
need(j, "kktrecon_version", str)
m = need(j, "machine", dict)
for k in ("hostname", "cpu_model", "date"): need(m, k, str)
need(m, "cpus", num)
s = need(j, "settings", dict)
assert need(s, "size", str) == "custom"
assert (s["d"], s["h"], s["n"], s["m"]) == (32, 8, 6, 6)
for k in ("repeat", "budget_s", "spread_target", "window"): need(s, k, num)
devs = need(j, "devices", list)
assert len(devs) == 1
d = devs[0]
need(d, "index", int); need(d, "label", str); need(d, "describe", str)
assert need(d, "status", str) == "ok"
f = need(d, "facts", dict)
for k in ("backend", "type", "name", "vendor", "platform", "driver", "opencl_c", "blas"): need(f, k, str)
for k in ("compute_units", "global_mem_bytes", "max_alloc_bytes"): need(f, k, num)
assert f["clock_mhz"] is None or isinstance(f["clock_mhz"], num)
need(f, "fp64", bool)
assert need(d, "selftest", dict) == {"float32": "passed", "float64": "passed"}
lim = need(d, "limits", dict)
for k in ("gflops_float32", "gflops_float64", "read_gbs", "launch_us"): need(lim, k, num)
assert lim["to_device_gbs"] is None  # the host has one memory
assert lim["gflops_float32_dependent"] is None  # clpeak's method needs kernels
st = need(d, "start", list)
assert sorted(x["dtype"] for x in st) == ["float32", "float64"]
for x in st:
    assert need(x, "cold_ms", num) > 0 and need(x, "warm_ms", num) > 0
pts = need(d, "points", list)
assert [(p["dtype"], p["points"]) for p in pts] == [
    (dt, p) for dt in ("float32", "float64") for p in (1, 2, 4, 8, 16)], pts
for p in pts:
    assert need(p, "candidates_per_point", int) == 160 and need(p, "model", str) == "784-200-200-1"
    for k in ("ms_median", "point_iterations_per_s", "vs_sequential", "peak_bound_vs_sequential"):
        assert need(p, k, num) > 0
    if p["points"] == 1: assert p["vs_sequential"] == 1
res = need(d, "results", list)
assert sorted((r["dtype"], r["workload"]) for r in res) == [
    ("float32", "attack"), ("float32", "train"), ("float64", "attack"), ("float64", "train")]
for r in res:
    assert need(r, "pairs", int) == 1
    need(r, "converged", bool); need(r, "suspect", bool)
    for k in ("rows", "flop", "ms_median", "ms_min", "ms_max", "iterations_per_s", "gflops",
              "gemm_gflops", "fraction_of_gemm", "fraction_of_peak", "fraction_spread"):
        need(r, k, num)
    assert r["ms_min"] <= r["ms_median"] <= r["ms_max"]
    c = need(r, "per_iteration", dict)
    for k in ("ops", "kernels", "gemms", "copies", "blocking", "bytes_to_device", "bytes_from_device"):
        need(c, k, int)
    assert c["gemms"] > 0
PY

# 2. --compare on synthetic files: machine A (host + a GPU without fp64), machine B (a FAILED GPU).
python3 - "$work" <<'PY'
import json, sys, os
def res(dt, ms, peak):
    return {"dtype": dt, "workload": "attack", "rows": 1000, "flop": 1e10, "pairs": 5,
            "converged": True, "ms_median": ms, "ms_min": ms, "ms_max": ms,
            "iterations_per_s": 1e3 / ms, "gflops": 1e10 / ms * 1e-6, "gemm_gflops": 100.0,
            "fraction_of_gemm": 0.9, "fraction_spread": 0.02, "fraction_of_peak": peak,
            "suspect": False, "per_iteration": {"ops": 24, "kernels": 31, "gemms": 17, "copies": 4,
            "blocking": 1, "bytes_to_device": 0, "bytes_from_device": 0}}
def dev(i, name, status, st, results, msg=None):
    d = {"index": i, "label": name, "describe": name, "status": status, "selftest": st,
         "facts": {"backend": "opencl", "type": "gpu", "name": name, "vendor": "V", "platform": "P",
                   "driver": "1", "opencl_c": "OpenCL C 1.2", "compute_units": 8, "clock_mhz": 1000,
                   "global_mem_bytes": 1 << 30, "max_alloc_bytes": 1 << 28, "fp64": "float64" in st
                   and st["float64"] != "unsupported", "blas": "CLBlast"}}
    if msg: d["message"] = msg
    if status == "ok": d["results"] = results
    return d
def root(host, devs):
    return {"schema": "kktrecon-bench/1", "kktrecon_version": "t",
            "machine": {"hostname": host, "cpu_model": "cpu", "cpus": 2, "date": "2026-01-01T00:00:00Z"},
            "settings": {"size": "paper", "d": 784, "h": 1000, "n": 500, "m": 1000, "repeat": 5,
                         "budget_s": 3, "spread_target": 0.05, "window": 5}, "devices": devs}
ok = {"float32": "passed", "float64": "passed"}
a = root("alpha", [dev(0, "host", "ok", ok, [res("float32", 130.0, 0.5), res("float64", 270.0, 0.45)]),
                   dev(1, "GPU-NoDouble", "ok", {"float32": "passed", "float64": "unsupported"},
                       [res("float32", 7.2, 0.3)])])
a["devices"][0]["facts"].update(backend="host", type="host", blas="OpenBLAS")
b = root("beta", [dev(1, "GPU-Broken", "FAILED", {"float32": "failed"}, [],
                      "self-test failed: ops_mul | wrong")])
json.dump(a, open(os.path.join(sys.argv[1], "A.json"), "w"))
json.dump(b, open(os.path.join(sys.argv[1], "B.json"), "w"))
PY
"$bin" bench --compare "$work/A.json" "$work/B.json" --out "$work/cmp" \
  --price-per-hour "nodouble=2.5,host=0.1" > "$work/cmp.txt" || fail "compare: $(cat "$work/cmp.txt")"
for f in compare.html compare.md iterations_per_s.png fraction_of_peak.png; do
  [ -s "$work/cmp/$f" ] || fail "compare wrote no $f"
done
for f in iterations_per_s.png fraction_of_peak.png; do
  head -c 8 "$work/cmp/$f" | od -An -tx1 | tr -d ' \n' | grep -q '^89504e470d0a1a0a$' || fail "$f is not a PNG"
done
md=$work/cmp/compare.md
[ "$(grep -c '^| ' "$md")" = 6 ] || fail "table: expected a header and 5 rows: $(cat "$md")"
grep -q '^| alpha | GPU-NoDouble | ok | float32 | 7.20 | 138.9 | 0.90 | 0.300 | 6.0 min | 0.25 |$' "$md" \
  || fail "GPU row (6 min at 2.5 USD/h = 0.25): $(cat "$md")"
grep -q '^| alpha | GPU-NoDouble | n/a (no fp64) | float64 |' "$md" || fail "no n/a row: $(cat "$md")"
grep -q '^| alpha | host (OpenBLAS) | ok | float64 | 270.00 | 3.7 | 0.90 | 0.450 | 3 h 45 min | 0.38 |$' "$md" \
  || fail "host row: $(cat "$md")"
grep -q '^| beta | GPU-Broken | FAILED: self-test failed: ops_mul \\| wrong |' "$md" || fail "FAILED row: $(cat "$md")"
grep -c 'data:image/png;base64,' "$work/cmp/compare.html" | grep -q '^2$' || fail "page lacks its 2 charts"
grep -q 'GPU-Broken' "$work/cmp/compare.html" || fail "page lacks the failed device"
if "$bin" bench --compare "$work/host.txt" --out "$work/cmp2" > /dev/null 2>&1; then
  fail "compare accepted a file that is not JSON"
fi

# 3. The self-test gate on a broken OpenCL device.
if "$bin" devices | grep -q "^1 "; then
  if KKTRECON_TEST_CORRUPT_KERNEL=ops_mul "$bin" bench --device 1 --size demo --repeat 1 \
      --json "$work/broken.json" --quiet > "$work/broken.txt" 2>&1; then
    fail "bench passed a device with a broken kernel"
  fi
  grep -q "^FAILED  self-test float32: .*ops_mul" "$work/broken.txt" || fail "no FAILED line: $(cat "$work/broken.txt")"
  grep -q "attack iter" "$work/broken.txt" && fail "timings printed for a FAILED device"
  python3 - "$work/broken.json" <<'PY' || fail "broken.json"
import json, sys
d = json.load(open(sys.argv[1]))["devices"]
assert len(d) == 1 and d[0]["status"] == "FAILED" and "ops_mul" in d[0]["message"], d
assert "results" not in d[0] and "limits" not in d[0], d[0].keys()
PY
fi
echo "bench_smoke: ok"
