#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the test suite, then
#   build-asan   the same suite with AddressSanitizer + UndefinedBehaviorSanitizer;
#   build-tsan   the concurrency tests with ThreadSanitizer (tests/tsan.supp: libtbb/libstdc++),
#                and a race planted in the crew, which it must report;
#   build-fuzz   each libFuzzer target for $FUZZ_SECONDS (60) on a copy of its seed corpus;
#   the soak test (tilecopy-stress, $STRESS_SECONDS = 30), the consumers (tools/ci-consumers.sh)
#   and the examples.
# Each extra stage counts as one test (a fuzzer, the stress run, a consumer check, an example).
#
# Its time on a 2-core machine (each stage's wall and CPU seconds are printed at the end):
# each build dir builds only the targets its stage runs; the suites run two tests at a time
# (no test times anything, and the few with a generous bound on a wait are is_parallel: false);
# the two fuzzers, the soak test and the consumers run side by side, each for its full time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash tools/install-deps.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
STRESS_SECONDS=${STRESS_SECONDS:-30}
jobs=2 # tests run at a time within a suite

setup() { # dir, options...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@"; else meson setup "$dir" "$@"; fi
}

# The build targets of the tests a `meson test` in `dir` would run (each word of a test's
# command line that names one of the dir's ninja targets), for `ninja`: a sanitizer build then
# compiles neither the soak test nor the tools its suite does not run.
test_targets() { # dir
  local targets
  targets=$(mktemp)
  ninja -C "$1" -t targets all >"$targets"
  meson introspect "$1" --tests | /usr/bin/python3 -c '
import json, os, sys
build, targets = sys.argv[1], sys.argv[2]
known = {line.split(": ")[0] for line in open(targets)}
out = set()
for test in json.load(sys.stdin):
    for word in test["cmd"]:
        rel = os.path.relpath(os.path.join(build, word), build)
        if rel in known:
            out.add(rel)
print("\n".join(sorted(out)))' "$(cd "$1" && pwd)" "$targets"
  rm -f "$targets"
}

passed=0; failed=0
run_suite() { # dir, meson test arguments...
  local log rc=0 dir=$1; shift
  log=$(mktemp)
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" "$@" 2>&1 | tee "$log" || rc=$?
  passed=$((passed + $(awk '/^Ok:/ {print $2}' "$log")))
  failed=$((failed + $(awk '/^(Fail|Unexpected Pass|Timeout):/ {s += $2} END {print s + 0}' "$log")))
  rm -f "$log"
  return $rc
}
# One extra test: name, command... Its output is shown; its exit status decides.
run_one() {
  local name=$1; shift
  if "$@"; then
    echo "tilecopy test $name: ok"; passed=$((passed + 1))
  else
    echo "tilecopy test $name: FAILED"; failed=$((failed + 1)); return 1
  fi
}
# Each stage's wall and CPU seconds (user + system of every process it waited for).
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
cpu_now() { # sets $cpu; `times` must run in this shell: a subshell's children are not this one's
  times >"$cpu_file"
  cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] } }
             END { printf "%d", s }' "$cpu_file")
}
timings=()
stage_start=$SECONDS
cpu_now
stage_cpu=$cpu
total_cpu=0
stage_done() {
  cpu_now
  timings+=("$(printf '%-52s %4d s wall %5d s CPU' "$1" $((SECONDS - stage_start)) $((cpu - stage_cpu)))")
  echo "tilecopy stage ${timings[-1]}"
  total_cpu=$((total_cpu + cpu - stage_cpu))
  stage_start=$SECONDS; stage_cpu=$cpu
}

status=0
setup build-test -Dtests=enabled -Dtorch=enabled -Dbench=disabled -Dexamples=enabled
ninja -C build-test
stage_done "build-test: build"
run_suite build-test || status=1
stage_done "build-test: meson test"

# Sanitizers: the core and the torch adapter (libtorch itself is not instrumented). -O2 with
# line tables (-g1) gives the reports' frames file and line without full debug info, which
# costs the ATen files ~40% more compile time under the sanitizers.
sanitizer_build=(-Doptimization=2 -Ddebug=false -Db_ndebug=false -Dcpp_args=-g1)
setup build-asan -Dtests=enabled -Dtorch=enabled -Dbench=disabled -Dexamples=disabled \
  -Db_sanitize=address,undefined -Db_lundef=false "${sanitizer_build[@]}"
mapfile -t asan_targets < <(test_targets build-asan)
ninja -C build-asan "${asan_targets[@]}"
stage_done "build-asan: build"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suite build-asan --no-rebuild || status=1
stage_done "build-asan: meson test"

# ThreadSanitizer: only the tests that run copies concurrently, only their targets built.
setup build-tsan -Dtests=enabled -Dtorch=enabled -Dbench=disabled -Dexamples=disabled \
  -Db_sanitize=thread -Db_lundef=false "${sanitizer_build[@]}"
tsan_tests=(async engine fork crew affinity)
tsan_targets=(tests/test_async tests/test_engine tests/test_fork tests/test_crew tests/test_affinity
  tests/test_crew_planted_race)
tsan_listed=$(meson test -C build-tsan --no-rebuild --list 2>/dev/null || true) # captured first (tools/ci-consumers.sh says why)
if grep -qx 'torch batch' <<<"$tsan_listed"; then
  tsan_tests+=('torch batch'); tsan_targets+=(tests/test_torch_batch)
fi
ninja -C build-tsan "${tsan_targets[@]}"
stage_done "build-tsan: build"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$root/tests/tsan.supp" \
  run_suite build-tsan --no-rebuild "${tsan_tests[@]}" || status=1
# The suppressions must not hide the crew's own races: the crew test built with a race planted
# in lib/crew.cpp (TILECOPY_PLANT_CREW_RACE) must be reported, with a frame in lib/crew.cpp.
tsan_sees_planted_race() {
  local log rc=0
  log=$(mktemp)
  TSAN_OPTIONS="halt_on_error=1:history_size=4:suppressions=$root/tests/tsan.supp" \
    build-tsan/tests/test_crew_planted_race >"$log" 2>&1 || rc=$?
  grep -q 'WARNING: ThreadSanitizer: data race' "$log" && grep -q 'lib/crew.cpp' "$log" && [ "$rc" -ne 0 ]
  rc=$?
  [ $rc -eq 0 ] || tail -n 40 "$log"
  rm -f "$log"
  return $rc
}
run_one tsan-reports-planted-crew-race tsan_sees_planted_race || status=1
stage_done "build-tsan: meson test (${#tsan_tests[@]} tests)"

# Side by side from here: the soak test and the consumers (which need only build-test) start
# while the fuzzers build, then the two fuzzers run together. Each runs for its full time
# whatever else runs; each one's output is kept in a file and shown when it ends.
declare -A bg_pid bg_log
start_bg() { # name, command...
  local name=$1; shift
  bg_log[$name]=$(mktemp)
  "$@" >"${bg_log[$name]}" 2>&1 &
  bg_pid[$name]=$!
}
finish_bg() { # name: waits for it, shows its output, counts it as one test
  local rc=0
  wait "${bg_pid[$1]}" || rc=$?
  cat "${bg_log[$1]}"
  rm -f "${bg_log[$1]}"
  if [ $rc -eq 0 ]; then
    echo "tilecopy test $1: ok"; passed=$((passed + 1))
  else
    echo "tilecopy test $1: FAILED"; failed=$((failed + 1)); return 1
  fi
}

# Soak: mixed concurrent copies on the optimized build, every result checked.
start_bg tilecopy-stress build-test/tools/tilecopy-stress --seconds "$STRESS_SECONDS" --threads 3
# Consumers: installed (pkg-config) and as a Meson subproject.
consumers_log=$(mktemp)
bash tools/ci-consumers.sh build-test >"$consumers_log" 2>&1 &
consumers_pid=$!

# Fuzzing: libFuzzer with ASan + UBSan; the library built with coverage (fuzzer-no-link) so
# that its branches guide the fuzzer. Crashing inputs go to build-fuzz/artifacts/.
CXX=clang++-14 setup build-fuzz -Dfuzz=enabled -Dtests=disabled -Dbench=disabled -Dexamples=disabled \
  -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
fuzzers=(raw)
fuzz_targets=$(ninja -C build-fuzz -t targets all)
if grep -q '^tests/fuzz/fuzz_tensor:' <<<"$fuzz_targets"; then fuzzers+=(tensor); fi
ninja -C build-fuzz "${fuzzers[@]/#/tests/fuzz/fuzz_}"
mkdir -p build-fuzz/artifacts
fuzz() { # name
  local corpus log rc=0
  corpus=$(mktemp -d)
  log=$(mktemp)
  cp "tests/fuzz/corpus-$1"/* "$corpus/"
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "build-fuzz/tests/fuzz/fuzz_$1" -max_total_time="$FUZZ_SECONDS" -timeout=60 -rss_limit_mb=6144 \
    -print_final_stats=1 -artifact_prefix="$root/build-fuzz/artifacts/$1-" "$corpus" >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    grep -v '^INFO\|^#[0-9]' "$log" | tail -n 60
  fi
  echo "fuzz_$1: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || echo 'stopped early'), $(
    grep -o 'cov: [0-9]*' "$log" | tail -n 1), corpus $(ls "$corpus" | wc -l) inputs"
  rm -rf "$corpus" "$log"
  return $rc
}
for f in "${fuzzers[@]}"; do start_bg "fuzz_$f" fuzz "$f"; done

finish_bg tilecopy-stress || status=1
rc=0
wait "$consumers_pid" || rc=$?
cat "$consumers_log"
[ $rc -eq 0 ] || status=1
passed=$((passed + $(sed -n 's/^ci-consumers: \([0-9]*\) passed.*/\1/p' "$consumers_log")))
failed=$((failed + $(sed -n 's/^ci-consumers: [0-9]* passed, \([0-9]*\) failed/\1/p' "$consumers_log")))
if ! grep -q '^ci-consumers:' "$consumers_log"; then failed=$((failed + 1)); status=1; fi
rm -f "$consumers_log"
for f in "${fuzzers[@]}"; do finish_bg "fuzz_$f" || status=1; done
stage_done "build-fuzz, fuzzers (${FUZZ_SECONDS} s) | stress (${STRESS_SECONDS} s) | consumers"

run_one optimizer_swap build-test/examples/optimizer_swap || status=1
stage_done "example optimizer_swap"

printf 'stage timings:\n'; printf '  %s\n' "${timings[@]}"
printf '  %-52s %4d s wall %5d s CPU\n' total "$SECONDS" "$total_cpu"
echo "tilecopy tests: $passed passed, $failed failed"
exit $status
