#!/usr/bin/env bash
# run.sh — the Python package's tests (tests/python/test_*.py) with pytest, as meson runs them:
#   run.sh LIBKKTRECON KKTRECON_BIN
# The interpreter is Debian's /usr/bin/python3 (python3-numpy, python3-pytest), or
# KKTRECON_PYTHON. Without numpy or pytest the suite is skipped (77), unless
# KKTRECON_REQUIRE_PYTHON=1 (./run.sh test sets it, having installed them): then it fails.
set -euo pipefail
lib=$1 bin=$2
src=${KKTRECON_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${KKTRECON_PYTHON:-/usr/bin/python3}
if ! "$py" -c "import numpy, pytest" 2>/dev/null; then
  msg="python: $py lacks numpy or pytest (apt-get install python3-numpy python3-pytest)"
  if [ "${KKTRECON_REQUIRE_PYTHON:-0}" = 1 ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg: skipped" >&2
  exit 77
fi
export KKTRECON_LIBRARY=$lib KKTRECON_BIN=$bin KKTRECON_SOURCE_DIR=$src
export PYTHONPATH=$src/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1
cd "$src"
exec "$py" -m pytest -q -p no:cacheprovider tests/python
