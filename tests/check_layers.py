#!/usr/bin/env python3
"""check_layers.py — the dependency rule of the source tree, checked on every include.

Each part is a folder, src/<part>/ with its public headers in include/<part>/; the first lines
of src/<part>/meson.build say what the part is and end with `# may include: <parts>`. Every
project include is part-qualified ("device/tensor.h"), so the rule reads off the text:
a file of part P may include "Q/..." only if Q is on P's list. Also refused: an include that
names no existing file, and a public header (include/) that includes a private one (src/).
Exit 0 when the tree obeys, 1 with one line per violation otherwise.
Usage: check_layers.py [SOURCE_ROOT]   (default: the folder above this script)
"""
import os
import re
import sys

# Written at build time into the build tree: src/device/gen_ops.py (from ops.def).
GENERATED = {"device/ops_api.h", "device/ops_gen.h", "device/ops_host_gen.inc"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


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
                for inc in INCLUDE.findall(open(path, encoding="utf-8").read()):
                    checked += 1
                    if inc in GENERATED:
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
    for p in problems:
        print(p)
    print(f"check_layers: {checked} includes in {len(rules)} parts, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
