#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, builds, runs all suites, then builds again
# with AddressSanitizer + UndefinedBehaviorSanitizer and runs all suites once more.
#   --quick   skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

run_suites() {
  local flavour=$1
  echo "== building ($flavour)" >&2
  bash deploy/build.sh "$flavour"
  echo "== testing ($flavour)" >&2
  (cd "build/$flavour" && ctest -j "${JOBS:-2}" --output-on-failure --timeout 300 --no-tests=error)
}

start=$SECONDS
run_suites test
if [[ ${1:-} != --quick ]]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  run_suites asan
fi
echo "== all tests passed in $((SECONDS - start)) s" >&2
