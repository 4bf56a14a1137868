#!/usr/bin/env bash
# tests/fuzz/run.sh — runs one libFuzzer target over its seed corpus.
#   tests/fuzz/run.sh TARGET [SECONDS [more libFuzzer flags...]]      (SECONDS default 60)
# TARGET is idx, cifar10, image, safetensors, model, candidates, config, points or manifest. The binary is
# $FUZZ_BIN, else build-fuzz/tests/fuzz/fuzz_TARGET (configure build-fuzz as meson_options.txt
# says). The repo corpus tests/fuzz/corpus/TARGET is only read; new inputs go to
# build-fuzz/fuzz-corpus/TARGET (kept between runs), or with FUZZ_TEMP_CORPUS=1 (the meson
# `fuzz` suite) to a temp folder removed afterwards. Crashes, leaks, timeouts and OOMs are written
# to build-fuzz/fuzz-artifacts/ and make the script fail. One process, no -jobs (libFuzzer's
# -jobs forks workers that log to files; the machine is shared). Extra flags go last and win,
# e.g. -runs=1000000 (the run stops at whichever limit comes first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${1:?usage: tests/fuzz/run.sh TARGET [SECONDS [libFuzzer flags...]]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
bin=${FUZZ_BIN:-$root/build-fuzz/tests/fuzz/fuzz_$target}
[ -x "$bin" ] || { echo "run.sh: no $bin (build it: see meson_options.txt)" >&2; exit 2; }
seeds=$here/corpus/$target
[ -d "$seeds" ] || { echo "run.sh: no seed corpus $seeds" >&2; exit 2; }
outdir=$(dirname "$(dirname "$(dirname "$bin")")") # the build folder
artifacts=$outdir/fuzz-artifacts
mkdir -p "$artifacts"
if [ "${FUZZ_TEMP_CORPUS:-0}" = 1 ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
else
  work=$outdir/fuzz-corpus/$target
  mkdir -p "$work"
fi
dict=()
[ -f "$here/$target.dict" ] && dict=(-dict="$here/$target.dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# -timeout: one input may take 10 s (a hang is a finding); -rss_limit_mb also caps any single
# malloc (libFuzzer's -malloc_limit_mb defaults to it), so a claimed huge size is a finding.
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${dict[@]}" "$@" "$work" "$seeds"
