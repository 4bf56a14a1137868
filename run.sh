#!/usr/bin/env bash
# run.sh — set-up and the two everyday commands (README.md):
#   ./run.sh demo [kktrecon demo flags]   install what is missing, build, train -> attack -> evaluate
#   ./run.sh test [--long]                install what is missing (PoCL too), build, run every test
#                                         suite, then the host suite again under ASan + UBSan,
#                                         then the libFuzzer targets briefly (clang, build-fuzz/);
#                                         --long adds suite `long` (the larger device suites on
#                                         oclgrind, ~7 min more; CI runs it)
# Packages come from Debian (apt-get; sudo when not root). Builds go to build/, build-asan/ and
# build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PKGS=(build-essential meson ninja-build pkg-config python3 ocl-icd-opencl-dev opencl-headers
            libclblast-dev libopenblas-openmp-dev libstb-dev libcjson-dev libinih-dev zlib1g-dev
            libcairo2-dev fonts-dejavu-core
            libopenmpi-dev openmpi-bin) # MPI: `mpirun … kktrecon sweep` (optional to the build)
TEST_PKGS=(check pocl-opencl-icd oclgrind python3-numpy python3-pytest)
FUZZ_PKGS=(clang libclang-rt-14-dev libomp-dev) # libFuzzer's runtime; OpenMP for clang

install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build() { # build DIR [meson options...]
  local dir=$1; shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >&2
  meson compile -C "$dir" >&2
}

# Adds meson's "Ok: / Fail:" counts of one `meson test` log to the totals.
passed=0 failed=0 skipped=0
count() {
  local ok fail exp unexp to skip
  ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$1" | tail -1)
  exp=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$1" | tail -1)
  fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$1" | tail -1)
  unexp=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$1" | tail -1)
  to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$1" | tail -1)
  skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$1" | tail -1)
  passed=$((passed + ${ok:-0} + ${exp:-0}))
  failed=$((failed + ${fail:-0} + ${unexp:-0} + ${to:-0}))
  skipped=$((skipped + ${skip:-0}))
  # A log without a summary means meson itself failed: count that as a failure.
  [ -n "$ok" ] || failed=$((failed + 1))
}

case "${1:-}" in
  demo)
    shift
    install_missing "${BUILD_PKGS[@]}" check
    build build --buildtype=release
    # libgomp's idle threads spin by default; on a laptop or shared machine that takes the
    # cores from everything else (README, troubleshooting). A policy you set is kept.
    export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
    exec ./build/kktrecon demo "$@"
    ;;
  test)
    shift
    long=false
    case "${1:-}" in
      --long) long=true ;;
      "") ;;
      *) echo "usage: ./run.sh test [--long]" >&2; exit 2 ;;
    esac
    install_missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    build build --buildtype=release
    export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$PWD/build/pocl-cache}
    # numpy and pytest were installed above: the Python tests fail rather than skip without them.
    export KKTRECON_REQUIRE_PYTHON=1
    mkdir -p "$POCL_CACHE_DIR"
    log1=$(mktemp) log2=$(mktemp) log3=$(mktemp)
    trap 'rm -f "$log1" "$log2" "$log3"' EXIT
    set +e
    skip_long=(--no-suite long)
    $long && skip_long=()
    meson test -C build --print-errorlogs --num-processes 2 "${skip_long[@]}" 2>&1 | tee "$log1"
    rc1=${PIPESTATUS[0]}
    set -e
    count "$log1"
    # The host suite again with AddressSanitizer + UndefinedBehaviorSanitizer.
    build build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
    set +e
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
      meson test -C build-asan --suite host --print-errorlogs --num-processes 2 2>&1 | tee "$log2"
    rc2=${PIPESTATUS[0]}
    set -e
    count "$log2"
    # The libFuzzer targets (tests/fuzz/), 12 s each over their seed corpora. Needs clang; where
    # it cannot be installed the suite is skipped with a note, not failed.
    rc3=0
    install_missing "${FUZZ_PKGS[@]}" || true
    if command -v clang >/dev/null 2>&1; then
      CC=clang build build-fuzz --buildtype=debugoptimized -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false
      set +e
      meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2 2>&1 | tee "$log3"
      rc3=${PIPESTATUS[0]}
      set -e
      count "$log3"
    else
      echo "run.sh: no clang (apt-get install ${FUZZ_PKGS[*]}); fuzz suite skipped" >&2
    fi
    echo "tests: $passed passed, $failed failed, $skipped skipped (default build$($long && echo " with suite long") + ASan/UBSan host suite + fuzz suite)"
    echo "$passed passed, $failed failed"
    [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$rc3" -eq 0 ] && [ "$failed" -eq 0 ]
    ;;
  *)
    echo "usage: ./run.sh demo [kktrecon demo flags] | ./run.sh test [--long]" >&2
    exit 2
    ;;
esac
