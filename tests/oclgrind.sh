#!/usr/bin/env bash
# oclgrind.sh — runs a device test program on Debian's oclgrind OpenCL simulator, which reports
# data races, uninitialised values, out-of-bounds accesses and API misuse in kernels; any report
# (or a failing test) fails. Without oclgrind installed it skips (exit 77).
# Usage: oclgrind.sh PATH/TO/check_X [API_FUNCTION]   (KKTRECON_TEST_SMALL=1: the tests skip
# their largest shapes, as the simulator runs every work-item in turn). API_FUNCTION names an
# OpenCL call whose failures the test provokes on purpose (check_progcache plants a binary the
# driver must refuse: clCreateProgramWithBinary); oclgrind's API-error reports from that call
# alone are not counted.
# Note: oclgrind counts memory whose only contents came from clEnqueueFillBuffer as
# uninitialised; the tests write the data they compute on (tests/check_ops.c test_counters).
set -uo pipefail
exe=${1:?usage: oclgrind.sh PATH/TO/check_X}
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind.sh: no oclgrind (apt-get install oclgrind): skipped"; exit 77; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
KKTRECON_TEST_DEVICE=oclgrind KKTRECON_REQUIRE_DEVICE=1 KKTRECON_TEST_SMALL=1 CK_FORK=no \
  oclgrind --data-races --uninitialized --check-api "$exe" > "$log" 2>&1
rc=$?
expected_api=${2:-}
if [ -n "$expected_api" ]; then # drop each API-error report whose Function is expected_api
  awk -v fn="$expected_api" '
    /^Oclgrind - OpenCL runtime error/ { held = $0; next }
    held != "" { if ($0 ~ ("Function: " fn "$")) { held = ""; skip = 1; next }
                 print held; held = "" }
    skip && /^$/ { skip = 0; next }
    !skip { print }' "$log" > "$log.kept" && mv "$log.kept" "$log"
fi
reports=$(grep -cE "^(Uninitialized value|Invalid (read|write)|Read-write data race|Write-write data race|Oclgrind - OpenCL runtime error)" "$log")
tail -n 3 "$log"
if [ "$reports" -gt 0 ]; then
  echo "oclgrind.sh: $reports report(s) from oclgrind; the first ones:"
  grep -m 5 -A 6 -E "^(Uninitialized value|Invalid (read|write)|Read-write data race|Write-write data race|Oclgrind - OpenCL runtime error)" "$log"
  exit 1
fi
[ "$rc" -eq 0 ] || { echo "oclgrind.sh: $exe failed (exit $rc) under oclgrind"; tail -n 30 "$log"; exit 1; }
echo "oclgrind.sh: $(basename "$exe") clean under oclgrind"
