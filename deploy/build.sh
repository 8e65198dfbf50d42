#!/usr/bin/env bash
# Configures and builds one flavour into build/<flavour>:
#   release   optimised, what the demo and the benchmarks run
#   test      RelWithDebInfo with the test suites
#   asan      AddressSanitizer + UndefinedBehaviorSanitizer, with the test suites
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-release}
jobs=${JOBS:-2}
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release -DSESSIOND_BUILD_TESTS=OFF) ;;
  test)    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DSESSIOND_SANITIZE=address,undefined -DCMAKE_CXX_FLAGS=-O1) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, test or asan)" >&2; exit 64 ;;
esac

cmake -S . -B "build/$flavour" -G Ninja "${args[@]}" >/dev/null
cmake --build "build/$flavour" -j "$jobs"
