#!/usr/bin/env bash
# Builds tilecopy the ways a user's project consumes it, in a temporary directory:
#   pkg-config    the build dir installed with --destdir; tests/consumers/raw_copy.cpp built
#                 with `pkg-config --cflags --libs tilecopy` alone (no libtorch may appear on
#                 that command line), tests/consumers/tensor_copy.cpp with tilecopy-torch;
#   subproject    tests/consumers/subproject/ with tilecopy's sources in subprojects/tilecopy,
#                 dependency('tilecopy') resolved through meson.override_dependency.
# Usage: tools/ci-consumers.sh BUILD_DIR (configured with the torch adapter, already built).
# Each check is a function run as an `if` condition, where `set -e` does not apply: every
# step returns on failure explicitly. Prints one "consumer NAME: ok|FAILED" line per check and
# ends with "ci-consumers: N passed, M failed"; exits 1 when a check failed.
# A command's output is captured before grep reads it: under pipefail, a pipeline of a command
# into a quiet grep fails whenever grep exits at its first match before the command has written
# everything (the command gets SIGPIPE; ldd's 292 lines piped so failed 157 times in 300), and
# GNU grep may stop reading early when its output is /dev/null too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cxx=${CXX:-c++}

passed=0; failed=0
check() { # name, command...
  local name=$1; shift
  if "$@" >"$work/$name.log" 2>&1; then
    echo "consumer $name: ok ($(tail -n 1 "$work/$name.log"))"
    passed=$((passed + 1))
  else
    echo "consumer $name: FAILED"
    sed 's/^/  /' "$work/$name.log"
    failed=$((failed + 1))
  fi
}

# --- Installed, through pkg-config ---------------------------------------------------------
meson install -C "$build" --no-rebuild --quiet --destdir "$work/root" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; exit 1; }
pcdir=$(dirname "$(find "$work/root" -name tilecopy.pc -print -quit)")
# The .pc files name the configured prefix; point them at the staged copy.
prefix=$(sed -n 's/^prefix=//p' "$pcdir/tilecopy.pc")
sed -i "s|^prefix=.*|prefix=$work/root$prefix|" "$pcdir"/*.pc
export PKG_CONFIG_PATH=$pcdir
libdir=$(pkg-config --variable=libdir tilecopy)

pkg_raw() {
  local flags
  flags=$(pkg-config --cflags --libs tilecopy)
  echo "pkg-config tilecopy: $flags"
  if grep -qi torch <<<"$flags"; then echo "libtorch appears in tilecopy.pc's flags"; return 1; fi
  # shellcheck disable=SC2086 # the flags are words
  "$cxx" -std=c++17 "$root/tests/consumers/raw_copy.cpp" -o "$work/raw_copy" $flags || return 1
  local libs
  libs=$(LD_LIBRARY_PATH=$libdir ldd "$work/raw_copy") || return 1
  if grep -qi torch <<<"$libs"; then echo "raw_copy links libtorch"; return 1; fi
  grep -qF "$libdir/libtilecopy.so" <<<"$libs" || { echo "raw_copy does not use the installed library"; return 1; }
  LD_LIBRARY_PATH=$libdir "$work/raw_copy"
}

pkg_tensor() {
  local flags
  flags=$(pkg-config --cflags --libs tilecopy-torch)
  echo "pkg-config tilecopy-torch: $flags"
  # shellcheck disable=SC2086
  "$cxx" -std=c++17 "$root/tests/consumers/tensor_copy.cpp" -o "$work/tensor_copy" $flags || return 1
  LD_LIBRARY_PATH=$libdir "$work/tensor_copy"
}

check pkg-config-tilecopy pkg_raw
if [ -f "$pcdir/tilecopy-torch.pc" ]; then
  check pkg-config-tilecopy-torch pkg_tensor
else
  echo "consumer pkg-config-tilecopy-torch: FAILED (no tilecopy-torch.pc: build $build without the torch adapter?)"
  failed=$((failed + 1))
fi

# --- As a Meson subproject --------------------------------------------------------------------
subproject() {
  local project=$work/consumer
  mkdir -p "$project/subprojects/tilecopy" || return 1
  cp "$root/tests/consumers/subproject/meson.build" "$root/tests/consumers/raw_copy.cpp" \
    "$root/tests/consumers/tensor_copy.cpp" "$project/" || return 1
  # The sources a clone has (tracked, plus new files not ignored), none of the build dirs.
  if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --) |
      tar -xf - -C "$project/subprojects/tilecopy" || return 1
  else
    tar -C "$root" --exclude='./build*' --exclude='./subprojects' -cf - . |
      tar -xf - -C "$project/subprojects/tilecopy" || return 1
  fi
  # Never an installed tilecopy (the staged one above, or a system one): the subproject only.
  # No debug info: the check is that it builds and runs, and ATen's headers compile ~40% slower with it.
  # A unity build: the core compiles in two thirds of the CPU time (41 against 61 s); build-test
  # compiles each file alone, so a file that builds only beside others is still caught there.
  (cd "$project" && env -u PKG_CONFIG_PATH meson setup build --wrap-mode=nodownload \
    --force-fallback-for=tilecopy,tilecopy-torch -Ddebug=false --unity=on) >"$work/subproject-setup.txt" || return 1
  cat "$work/subproject-setup.txt"
  grep -q "Executing subproject tilecopy" "$work/subproject-setup.txt" ||
    { echo "tilecopy was not built as a subproject"; return 1; }
  grep -q "tilecopy-torch *: *True" "$work/subproject-setup.txt" ||
    { echo "the subproject did not provide tilecopy-torch"; return 1; }
  ninja -C "$project/build" raw_copy tensor_copy || return 1
  meson test -C "$project/build" --no-rebuild --print-errorlogs || return 1
  echo "subproject: raw_copy and tensor_copy ran against tilecopy built as a subproject"
}
check meson-subproject subproject

echo "ci-consumers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
