# lib.sh — what the end-to-end shell tests share (sourced, not run):
#   kr_test_begin NAME   a scratch folder $work (removed on exit), fail() naming the test
#   expect_fail WHAT PATTERN CMD...   CMD must fail with PATTERN (case-insensitive) on stderr
#   kr_tiny_ini FILE     the tiny model's [data], [model] and [train] sections (the bundled
#                        MNIST subset, 4 per class, 784-16-16-1, float64); callers append theirs
# Needs $src (the source tree) set before kr_tiny_ini.

kr_test_begin() {
  kr_test_name=$1
  work=$(mktemp -d "/tmp/kktrecon-$1.XXXXXX")
  trap 'rm -rf "$work"' EXIT
}

fail() { echo "$kr_test_name: FAIL: $*" >&2; exit 1; }

expect_fail() { # expect_fail WHAT PATTERN CMD...
  local what=$1 pat=$2; shift 2
  if "$@" 2> "$work/err.txt"; then fail "$what was accepted"; fi
  grep -qi -- "$pat" "$work/err.txt" || fail "$what: message lacks '$pat': $(cat "$work/err.txt")"
}

kr_tiny_ini() {
  cat > "$1" <<INI
[data]
dataset = mnist
path = $src/data/mnist-subset
task = odd_even
per_class = 4
test_per_class = 20
[model]
hidden = 16,16
init_scale = 0.01
[train]
steps = 400
lr = 1.0
precision = double
log_every = 100
INI
}
