#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the test suite, then
#   build-asan   the same suite with AddressSanitizer + UndefinedBehaviorSanitizer (clang-14),
#                and each libFuzzer target of the same build for $FUZZ_SECONDS (60) on a copy
#                of its seed corpus;
#   build-tsan   the concurrency tests with ThreadSanitizer (tests/tsan.supp: libtbb/libstdc++),
#                and a race planted in the crew, which it must report;
#   the soak test (tilecopy-stress, $STRESS_SECONDS = 30), the consumers (tools/ci-consumers.sh)
#   and the example.
# Each extra stage counts as one test (a fuzzer, the stress run, a consumer check, an example).
#
# Its time on a 2-core machine (each stage's wall and CPU seconds are printed at the end):
# two lanes run side by side from the start, so that neither leaves a core idle while the
# other has work: the foreground builds and runs build-test (and the example), then builds
# build-asan (with the fuzzers) and runs its suite; the background lane builds and runs
# build-tsan (mostly one long test program at a time), then runs the soak test and the
# consumers on build-test, then the fuzzers side by side once build-asan is built. Each build
# dir builds only the targets its stage runs; the suites run two tests at a time, the longest
# first (no test times anything, and the few with a generous bound on a wait are
# is_parallel: false).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash tools/install-deps.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
STRESS_SECONDS=${STRESS_SECONDS:-30}
jobs=2 # tests run at a time within a suite
build_jobs=2 # compilers at a time in each lane: four at most, as ninja's default on 2 cores

setup() { # dir, options... ($CXX names the compiler; a dir configured with another one is wiped)
  local dir=$1 cxx=${CXX:-default}; shift
  if [ -f "$dir/build.ninja" ] && [ "$(cat "$dir/tilecopy-cxx" 2>/dev/null)" = "$cxx" ]; then
    meson setup --reconfigure "$dir" "$@"
    meson configure "$dir" "$@" # meson 1.0's --reconfigure keeps the earlier cpp_args
  elif [ -f "$dir/build.ninja" ]; then
    meson setup --wipe "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
  echo "$cxx" >"$dir/tilecopy-cxx"
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

# Counts and stage timings go to files: the background lane's tests and stages count too.
state=$(mktemp -d)
trap 'wait; rm -rf "$state"' EXIT # a failed foreground step still lets the background lane end
count() { echo "$1 $2" >>"$state/counts"; } # passed, failed

run_suite() { # dir, meson test arguments...
  local log rc=0 dir=$1; shift
  log=$(mktemp)
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" "$@" 2>&1 | tee "$log" || rc=$?
  count "$(awk '/^Ok:/ {print $2}' "$log")" "$(awk '/^(Fail|Unexpected Pass|Timeout):/ {s += $2} END {print s + 0}' "$log")"
  rm -f "$log"
  return $rc
}
# One extra test: name, command... Its output is shown; its exit status decides.
run_one() {
  local name=$1; shift
  if "$@"; then
    echo "tilecopy test $name: ok"; count 1 0
  else
    echo "tilecopy test $name: FAILED"; count 0 1; return 1
  fi
}
# Each stage's wall and CPU seconds (user + system of every process its shell waited for; each
# lane is its own shell, so a stage's CPU is its own even while the other lane runs).
cpu_now() { # sets $cpu; `times` must run in the lane's own shell: a subshell's children are not its
  local file=$state/times.$BASHPID # named here: $BASHPID differs inside $(...)
  times >"$file"
  cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] } }
             END { printf "%d", s }' "$file")
}
stage_begin() { stage_start=$SECONDS; cpu_now; stage_cpu=$cpu; }
stage_done() {
  local line
  cpu_now
  line=$(printf '%-52s %4d s wall %5d s CPU' "$1" $((SECONDS - stage_start)) $((cpu - stage_cpu)))
  echo "$line" >>"$state/timings"
  echo "tilecopy stage $line"
  stage_start=$SECONDS; stage_cpu=$cpu
}

# Side by side: a command in the background, its output kept in a file and shown when it ends.
declare -A bg_pid bg_log
start_bg() { # name, command...
  local name=$1; shift
  bg_log[$name]=$(mktemp)
  "$@" >"${bg_log[$name]}" 2>&1 &
  bg_pid[$name]=$!
}
finish_bg() { # name: waits for it, shows its output; returns its exit status
  local rc=0
  wait "${bg_pid[$1]}" || rc=$?
  cat "${bg_log[$1]}"
  rm -f "${bg_log[$1]}"
  return $rc
}
# A background command that counts as one test.
finish_bg_test() { # name
  if finish_bg "$1"; then
    echo "tilecopy test $1: ok"; count 1 0
  else
    echo "tilecopy test $1: FAILED"; count 0 1; return 1
  fi
}

# Sanitizers: the core and the torch adapter (libtorch itself is not instrumented). -O1 with
# line tables (-g1) gives the reports' frames file and line without full debug info, which
# costs the ATen files ~40% more compile time under the sanitizers; -O1 compiles a third
# faster than -O2 under ASan + UBSan, and is what the sanitizers' documentation advises.
sanitizer_build=(-Doptimization=1 -Ddebug=false -Db_ndebug=false)

# The background lane: ThreadSanitizer, the soak test and consumers, the fuzzers. Its stages are mostly one long test
# program at a time (a core to spare), so it runs beside the foreground's builds and suites
# from the start rather than after them.
lane_thread_and_fuzz() {
  local status=0
  stage_begin
  # ThreadSanitizer: only the tests that run copies concurrently, only their targets built.
  setup build-tsan -Dtests=enabled -Dtorch=enabled -Dbench=disabled -Dexamples=disabled \
    -Db_sanitize=thread -Db_lundef=false "${sanitizer_build[@]}" -Dcpp_args=-g1
  local tsan_tests=(async engine fork crew affinity)
  local tsan_targets=(tests/test_async tests/test_engine tests/test_fork tests/test_crew tests/test_affinity
    tests/test_crew_planted_race)
  local tsan_listed
  tsan_listed=$(meson test -C build-tsan --no-rebuild --list 2>/dev/null || true) # captured first (tools/ci-consumers.sh says why)
  if grep -qx 'torch batch' <<<"$tsan_listed"; then
    tsan_tests+=('torch batch'); tsan_targets+=(tests/test_torch)
  fi
  ninja -j "$build_jobs" -C build-tsan "${tsan_targets[@]}"
  stage_done "build-tsan: build"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$root/tests/tsan.supp" \
    run_suite build-tsan --no-rebuild "${tsan_tests[@]}" || status=1
  run_one tsan-reports-planted-crew-race tsan_sees_planted_race || status=1
  stage_done "build-tsan: meson test (${#tsan_tests[@]} tests)"

  # Soak (mixed concurrent copies on the optimized build, every result checked) and the consumers
  # (installed through pkg-config, and as a Meson subproject) need build-test, which the
  # foreground lane has built by now (else this waits for it, or for that lane's end). They run
  # here, side by side, while the foreground builds and runs build-asan: the foreground is the
  # longer lane. The soak test runs for its full time whatever else runs.
  while [ ! -e "$state/build-test.built" ] && [ ! -e "$state/main-lane.ended" ]; do sleep 1; done
  if [ ! -e "$state/build-test.built" ]; then
    echo "tilecopy test tilecopy-stress, consumers: not run (build-test was not built)"; count 0 2
    return 1
  fi
  stage_begin
  local consumers_rc=0
  start_bg tilecopy-stress build-test/tools/tilecopy-stress --seconds "$STRESS_SECONDS" --threads 3
  start_bg consumers bash tools/ci-consumers.sh build-test
  finish_bg_test tilecopy-stress || status=1
  finish_bg consumers >"$state/consumers.log" || consumers_rc=$?
  cat "$state/consumers.log"
  count "$(sed -n 's/^ci-consumers: \([0-9]*\) passed.*/\1/p' "$state/consumers.log")" \
    "$(sed -n 's/^ci-consumers: [0-9]* passed, \([0-9]*\) failed/\1/p' "$state/consumers.log")"
  if ! grep -q '^ci-consumers:' "$state/consumers.log"; then count 0 1; consumers_rc=1; fi
  [ $consumers_rc -eq 0 ] || status=1
  stage_done "build-test: stress (${STRESS_SECONDS} s) | consumers"

  # Fuzzing: libFuzzer targets of build-asan (the foreground lane builds them with the suite's
  # targets), side by side. Crashing inputs go to build-asan/fuzz-artifacts/.
  while [ ! -e "$state/build-asan.built" ] && [ ! -e "$state/main-lane.ended" ]; do sleep 1; done
  local f
  if [ ! -e "$state/build-asan.built" ]; then
    echo "tilecopy test fuzzers: not run (build-asan was not built)"; count 0 2
    return 1
  fi
  stage_begin # the fuzzers' own time, not the wait for build-asan
  mkdir -p build-asan/fuzz-artifacts
  for f in $(fuzzers); do start_bg "fuzz_$f" fuzz "$f"; done
  for f in $(fuzzers); do finish_bg_test "fuzz_$f" || status=1; done
  stage_done "build-asan: fuzzers, side by side (${FUZZ_SECONDS} s each)"
  return $status
}

# The libFuzzer targets build-asan has (fuzz_tensor needs the torch adapter).
fuzzers() {
  local targets
  targets=$(ninja -C build-asan -t targets all)
  echo raw
  if grep -q '^tests/fuzz/fuzz_tensor:' <<<"$targets"; then echo tensor; fi
}

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

fuzz() { # name
  local corpus log rc=0
  corpus=$(mktemp -d)
  log=$(mktemp)
  cp "tests/fuzz/corpus-$1"/* "$corpus/"
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "build-asan/tests/fuzz/fuzz_$1" -max_total_time="$FUZZ_SECONDS" -timeout=60 -rss_limit_mb=6144 \
    -print_final_stats=1 -artifact_prefix="$root/build-asan/fuzz-artifacts/$1-" "$corpus" >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    grep -v '^INFO\|^#[0-9]' "$log" | tail -n 60
  fi
  echo "fuzz_$1: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || echo 'stopped early'), $(
    grep -o 'cov: [0-9]*' "$log" | tail -n 1), corpus $(ls "$corpus" | wc -l) inputs"
  rm -rf "$corpus" "$log"
  return $rc
}

# The foreground lane: the optimized build and its suite, then ASan + UBSan.
lane_main() {
  local status=0
  stage_begin
  setup build-test -Dtests=enabled -Dtorch=enabled -Dbench=disabled -Dexamples=enabled
  ninja -j "$build_jobs" -C build-test
  stage_done "build-test: build"
  : >"$state/build-test.built" # the background lane's soak test and consumers wait for it
  run_suite build-test || status=1
  run_one optimizer_swap build-test/examples/optimizer_swap || status=1
  stage_done "build-test: meson test | example"

  # clang-14: it compiles this build in about 0.6 of g++'s CPU time (g++ instruments UBSan's
  # checks at far greater cost), and build-test and build-tsan keep g++ covered. The same build
  # holds the libFuzzer targets: the library is compiled with coverage (fuzzer-no-link) so that
  # its branches guide the fuzzers, which the suite's programs carry along unused; the tests' own
  # sources and the kernels' byte loops are left out of it (tests/fuzz/coverage-ignore.txt).
  CXX=clang++-14 setup build-asan -Dtests=enabled -Dtorch=enabled -Dbench=disabled -Dexamples=disabled \
    -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false "${sanitizer_build[@]}" \
    "-Dcpp_args=-g1 -fsanitize=fuzzer-no-link -fsanitize-coverage-ignorelist=$root/tests/fuzz/coverage-ignore.txt"
  mapfile -t asan_targets < <(test_targets build-asan)
  ninja -j "$build_jobs" -C build-asan "${asan_targets[@]}" $(fuzzers | sed 's|^|tests/fuzz/fuzz_|')
  : >"$state/build-asan.built" # the background lane's fuzzers wait for it
  stage_done "build-asan: build (the suite's targets and the fuzzers)"
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite build-asan --no-rebuild || status=1
  stage_done "build-asan: meson test"
  return $status
}

# Each lane runs in a shell of its own, so that each stage's CPU seconds are its lane's alone
# (a shell's `times` counts every child it reaped, and the main shell reaps both lanes).
cpu_now
total_start=$cpu
status=0
start_bg lane-tsan-fuzz lane_thread_and_fuzz
lane_main & # its output shown as it comes
main_pid=$!
wait $main_pid || { echo "tilecopy lane build-test, ASan + UBSan: FAILED"; status=1; }
: >"$state/main-lane.ended" # a background lane still waiting for build-test stops waiting

# Its tests count themselves; a build of it that failed shows here.
finish_bg lane-tsan-fuzz || { echo "tilecopy lane ThreadSanitizer, fuzzing: FAILED"; status=1; }

cpu_now
echo "stage timings (two lanes side by side: a stage's wall overlaps the other lane's, its CPU is its own):"
sed 's/^/  /' "$state/timings"
printf '  %-52s %4d s wall %5d s CPU\n' total "$SECONDS" $((cpu - total_start))
echo "tilecopy tests: $(awk '{p += $1} END {print p + 0}' "$state/counts") passed, $(
  awk '{f += $2} END {print f + 0}' "$state/counts") failed"
exit $status
