#!/usr/bin/env python3
"""check_layers.py — the dependency rule of the source tree, checked on every include.

Each part is a folder, src/<part>/ with its public headers in include/<part>/; the first lines
of src/<part>/meson.build say what the part is and end with `# may include: <parts>`. Every
project include is part-qualified ("device/tensor.h"), so the rule reads off the text:
a file of part P may include "Q/..." only if Q is on P's list. Also refused: an include that
names no existing file, a public header (include/) that includes a private one (src/), OpenCL
headers outside device/ and base/ (status.c names OpenCL errors), and the BLAS headers outside
the files RESTRICTED names.
The library's public header include/kktrecon.h is no part: only the api part may include it
(as "kktrecon.h"), and it includes no project header (it is installed alone).
Exit 0 when the tree obeys, 1 with one line per violation otherwise.
Usage: check_layers.py [SOURCE_ROOT]   (default: the folder above this script)
"""
import os
import re
import sys

# Written at build time into the build tree: src/device/gen_ops.py (from ops.def).
GENERATED = {"device/ops_api.h", "device/ops_gen.h", "device/ops_host_gen.inc"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
# The installed public header (include/kktrecon.h) and the one part that implements it.
PUBLIC_HEADER = "kktrecon.h"
PUBLIC_PART = "api"
# Library headers that only the named files may include (the banners say why).
RESTRICTED = {
    "clblast_c.h": {"src/device/blas.c"},
    "cblas.h": {"src/device/blas.c", "src/nn/kkt_gap.c", "src/eval/metrics.c"},
}


def allowed_parts(root):
    rules = {}
    src = os.path.join(root, "src")
    for part in sorted(os.listdir(src)):
        build = os.path.join(src, part, "meson.build")
        if not os.path.isfile(build):
            continue
        m = re.search(r"^# may include:(.*)$", open(build, encoding="utf-8").read(), re.M)
        if not m:
            sys.exit(f"{build}: no '# may include:' line")
        rules[part] = set(m.group(1).split())
    return rules


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    rules = allowed_parts(root)
    problems = []
    checked = 0
    for top in ("src", "include"):
        for part in sorted(rules):
            folder = os.path.join(root, top, part)
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if not name.endswith((".c", ".h", ".inc")):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)
                text = open(path, encoding="utf-8").read()
                for inc in SYSTEM_INCLUDE.findall(text):
                    if inc in RESTRICTED and rel not in RESTRICTED[inc]:
                        problems.append(f"{rel}: only {', '.join(sorted(RESTRICTED[inc]))} "
                                        f"may include <{inc}>")
                    if inc.startswith("CL/") and part not in ("device", "base"):
                        problems.append(f"{rel}: <{inc}> outside the device layer")
                for inc in INCLUDE.findall(text):
                    checked += 1
                    if inc in GENERATED:
                        continue
                    if inc == PUBLIC_HEADER:
                        if part != PUBLIC_PART:
                            problems.append(f"{rel}: only part '{PUBLIC_PART}' may include "
                                            f"\"{PUBLIC_HEADER}\" (the public API)")
                        continue
                    target = inc.split("/")[0] if "/" in inc else None
                    if target is None:
                        problems.append(f"{rel}: include \"{inc}\" is not part-qualified")
                        continue
                    if target not in rules:
                        problems.append(f"{rel}: include \"{inc}\" names no part")
                        continue
                    public = os.path.isfile(os.path.join(root, "include", inc))
                    private = os.path.isfile(os.path.join(root, "src", inc))
                    if not (public or private):
                        problems.append(f"{rel}: include \"{inc}\" names no file")
                    if top == "include" and private and not public:
                        problems.append(f"{rel}: public header includes private \"{inc}\"")
                    if target not in rules[part]:
                        problems.append(f"{rel}: part '{part}' may not include \"{inc}\" "
                                        f"(may include: {' '.join(sorted(rules[part]))})")
    public = os.path.join(root, "include", PUBLIC_HEADER)
    if os.path.isfile(public):
        for inc in INCLUDE.findall(open(public, encoding="utf-8").read()):
            checked += 1
            problems.append(f"include/{PUBLIC_HEADER}: includes \"{inc}\"; the installed "
                            f"public header may include system headers only")
    for p in problems:
        print(p)
    print(f"check_layers: {checked} includes in {len(rules)} parts, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
