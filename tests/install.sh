#!/usr/bin/env bash
# install.sh — `meson install` into a staging folder (DESTDIR), then what a user of the
# installed library does: a small C program outside the tree, built with
# `pkg-config --cflags --libs kktrecon` and run against the staged library, plus the staged
# binary, header, pkg-config file and Python package.
# Usage: install.sh BUILD_DIR
# The .pc file holds the configured prefix (/usr/local by default), as an installed one does;
# the staged copy lives under DESTDIR, so pkg-config is pointed at it with
# PKG_CONFIG_SYSROOT_DIR=DESTDIR (which prefixes every -I / -L path), the way cross and staged
# builds use it, and the loader with LD_LIBRARY_PATH.
set -euo pipefail
build=$(cd "$1" && pwd)
stage=$(mktemp -d /tmp/kktrecon-install.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$stage"' EXIT
fail() { echo "install: FAIL: $*" >&2; exit 1; }

DESTDIR=$stage meson install -C "$build" --no-rebuild --quiet >/dev/null
# prefix and libdir as configured (what `meson introspect --buildoptions` prints, read directly)
opt() {
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(open(sys.argv[1]))
                                            if o["name"] == sys.argv[2]))' \
    "$build/meson-info/intro-buildoptions.json" "$1"
}
prefix=$(opt prefix) libdir=$(opt libdir)
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
root=$stage$prefix
for f in "$root/bin/kktrecon" "$root/include/kktrecon.h" "$stage$libdir/libkktrecon.so.0" \
         "$stage$libdir/libkktrecon.a" "$stage$libdir/pkgconfig/kktrecon.pc"; do
  test -e "$f" || fail "not installed: ${f#$stage}"
done
"$root/bin/kktrecon" help >/dev/null || fail "the installed kktrecon does not run"
# Only the API is exported by the shared library.
others=$(nm -D --defined-only "$stage$libdir/libkktrecon.so.0" | awk '$2 ~ /^[TDBR]$/ {print $3}' |
  grep -v '^kktrecon_' || true)
[ -z "$others" ] || fail "libkktrecon.so exports internal symbols: $(echo $others | head -c 300)"

export PKG_CONFIG_PATH=$stage$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
flags=$(pkg-config --cflags --libs kktrecon) || fail "pkg-config --cflags --libs kktrecon"
case $flags in *"-I$root/include"*|*"-L$stage$libdir"*) ;; *) fail "pkg-config flags: $flags" ;; esac

mkdir "$stage/user"
cat > "$stage/user/prog.c" <<'C'
/* A user of the installed library: devices, a model from arrays, the KKT loss at a point. */
#include <kktrecon.h>
#include <math.h>
#include <stdio.h>

int main(void)
{
    int n = 0;
    if (kktrecon_device_list(NULL, 0, &n) != KKTRECON_OK || n < 1) return 1;
    kktrecon_device *dev;
    if (kktrecon_device_open("host", &dev) != KKTRECON_OK) return 2;
    const size_t dims[3] = {3, 2, 1};
    const float w0[6] = {1, -1, 0.5f, 0.25f, 2, -0.5f}, w1[2] = {1, -2};
    const void *w[2] = {w0, w1};
    kktrecon_model *m;
    if (kktrecon_model_new(2, dims, KKTRECON_FLOAT32, w, NULL, NULL, &m) != KKTRECON_OK) return 3;
    kktrecon_config *c;
    kktrecon_config_new(&c);
    kktrecon_config_set(c, "attack.precision", "double");
    const double x[6] = {0.1, 0.2, 0.3, -0.3, 0.2, 0.1}, lam[2] = {1, 2}, y[2] = {-1, 1};
    kktrecon_loss loss;
    if (kktrecon_kkt(m, dev, c, 2, x, lam, y, &loss, NULL, NULL) != KKTRECON_OK) {
        fprintf(stderr, "%s\n", kktrecon_last_error());
        return 4;
    }
    /* An error path: the message comes through. */
    if (kktrecon_config_set(c, "attack.nokey", "1") != KKTRECON_E_INVALID) return 5;
    printf("kktrecon %s: %d device(s), loss %.17g, error '%s'\n", kktrecon_version(), n,
           loss.total, kktrecon_last_error());
    kktrecon_config_free(c);
    kktrecon_model_free(m);
    kktrecon_device_close(dev);
    return isfinite(loss.total) && loss.total > 0 ? 0 : 6;
}
C
cc -std=c11 -Wall -Werror -o "$stage/user/prog" "$stage/user/prog.c" $flags -lm ||
  fail "the program does not build with: $flags"
out=$(LD_LIBRARY_PATH=$stage$libdir "$stage/user/prog") || fail "the program failed"
echo "$out"
case $out in *"attack.nokey"*) ;; *) fail "no error message: $out" ;; esac
# It ran on the staged library, not on one elsewhere.
deps=$(LD_LIBRARY_PATH=$stage$libdir ldd "$stage/user/prog")
case $deps in *"$stage$libdir/libkktrecon.so.0"*) ;; *) fail "not the staged library: $deps" ;; esac

# The Python package, where meson put it, names the installed library.
pkg=$(find "$stage" -path '*/kktrecon/_install.py' | head -1)
[ -n "$pkg" ] || fail "the Python package was not installed"
grep -q "LIBRARY = \"$libdir/libkktrecon.so.0\"" "$pkg" || fail "_install.py: $(cat "$pkg")"
test -f "$(dirname "$pkg")/__init__.py" -a -f "$(dirname "$pkg")/_lib.py" || fail "package files"
# Imported from where it was installed, it loads the library _install.py names: here the staged
# copy (DESTDIR is not the prefix, so the recorded path is pointed into the stage first).
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  sed -i "s|LIBRARY = \"|LIBRARY = \"$stage|" "$pkg"
  got=$(cd / && env -u KKTRECON_LIBRARY PYTHONPATH="$(dirname "$(dirname "$pkg")")" \
    /usr/bin/python3 -c 'import kktrecon; print(kktrecon._lib.path, kktrecon.devices()[0]["spec"])') ||
    fail "the installed package does not import"
  [ "$got" = "$stage$libdir/libkktrecon.so.0 host" ] || fail "the installed package loaded: $got"
fi
echo "install: ok (${pkg#$stage})"
