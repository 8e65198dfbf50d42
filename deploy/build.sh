#!/usr/bin/env bash
# Configures and builds one flavour into build/<flavour>:
#   release   optimised, what the demo and the benchmarks run
#   test      the test suites; -O1 with asserts on and line tables (fast to compile, still optimised)
#   asan      AddressSanitizer + UndefinedBehaviorSanitizer at -O0 (three times faster to compile
#             than at -O1 with Beast's coroutine-heavy templates), with the test suites
#   tsan      ThreadSanitizer at -O1, with the test suites that run more than one thread (the daemon's
#             loop is one thread; its worker and database threads, Asio's resolver and the tests'
#             helper threads are others): tests/CMakeLists.txt, NO_TSAN and THREADED_SOURCES_ONLY
# The sanitizer builds carry line tables (-g1), not full debug information: their reports name
# function, file and line, and the builds are a fifth faster.
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-release}
jobs=${JOBS:-2}
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release -DSESSIOND_BUILD_TESTS=OFF) ;;
  test)    args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1") ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" -DSESSIOND_SANITIZE=address,undefined) ;;
  tsan)    args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" -DSESSIOND_SANITIZE=thread) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, test, asan or tsan)" >&2; exit 64 ;;
esac

cmake -S . -B "build/$flavour" -G Ninja "${args[@]}" >/dev/null
cmake --build "build/$flavour" -j "$jobs"
