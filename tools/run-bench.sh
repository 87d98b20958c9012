#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, runs tilecopy-bench and
# writes bench.json and bench.svg in the repository root. Extra arguments go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
if [ -f build/build.ninja ]; then meson setup --reconfigure build -Dbuildtype=release; else meson setup build -Dbuildtype=release; fi
# Only what runs: the benchmark (the tests have their own command).
ninja -C build bench/tilecopy-bench
build/bench/tilecopy-bench --json bench.json --svg bench.svg "$@"
