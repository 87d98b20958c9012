#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the test suite, then the same
# suite built with AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh

setup() { # dir, options...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@"; else meson setup "$dir" "$@"; fi
}

passed=0; failed=0
run_suite() { # dir
  local log rc=0
  log=$(mktemp)
  meson test -C "$1" --print-errorlogs --num-processes 1 2>&1 | tee "$log" || rc=$?
  passed=$((passed + $(awk '/^Ok:/ {print $2}' "$log")))
  failed=$((failed + $(awk '/^(Fail|Unexpected Pass|Timeout):/ {s += $2} END {print s + 0}' "$log")))
  rm -f "$log"
  return $rc
}

status=0
setup build-test -Dtests=enabled -Dtorch=enabled -Dbench=disabled
ninja -C build-test
run_suite build-test || status=1

# Sanitizers: the core and the torch adapter (libtorch itself is not instrumented).
setup build-asan -Dtests=enabled -Dtorch=enabled -Dbench=disabled \
  -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suite build-asan || status=1

echo "tilecopy tests: $passed passed, $failed failed"
exit $status
