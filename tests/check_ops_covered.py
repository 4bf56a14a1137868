#!/usr/bin/env python3
"""check_ops_covered.py — every op of src/device/ops.def is tested on its own: it has a case in
tests/check_ops.c (against a float64 reference on every backend) and a line in the device
self-test (src/app/selftest.c), so that a new op cannot land unchecked. Exit 1 naming the gaps.
Usage: check_ops_covered.py [SOURCE_ROOT]
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
ops = re.findall(r"^op (\w+)", open(os.path.join(root, "src/device/ops.def")).read(), re.M)
gaps = []
for where in ("tests/check_ops.c", "src/app/selftest.c"):
    text = open(os.path.join(root, where)).read()
    gaps += [f"{where}: no call of kr_op_{op}" for op in ops if f"kr_op_{op}(" not in text]
for g in gaps:
    print(g)
print(f"check_ops_covered: {len(ops)} ops, {len(gaps)} gaps")
sys.exit(1 if gaps or not ops else 0)
