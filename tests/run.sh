#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, then
#   1. builds build/test and runs all suites (unit, sim, integration, then the serial stress suite,
#      and the web UI in headless Chromium: tests/browser, label browser);
#   2. builds build/asan (AddressSanitizer + UndefinedBehaviorSanitizer) and runs them all again;
#   3. builds build/tsan (ThreadSanitizer) with what runs more than one thread: the integration
#      suite (the real daemon, its worker and database threads) and the unit tests that start
#      threads (tests/CMakeLists.txt), and runs them but for the status-fault variants and the
#      production pacing wait (TSan's job is races; the same threads run in the other tests);
#   4. runs the real daemon under valgrind --leak-check=full through a set of integration tests;
#   5. builds the libFuzzer targets with clang and runs each for a short while (fuzz/run.sh);
#   6. builds the Debian packages and tests them under a booted systemd (tests/system);
#   7. builds the container image from the packaged binary and runs it with podman (tests/image).
#   --quick   only step 1
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql-15: the store's tests start a throwaway cluster of their own (tests/support/postgres_cluster).
# chromium, node: the browser tests (tests/browser), in the plain build only.
bash deploy/install-deps.sh postgresql-15 --browser

# The browser tests' npm packages, pinned (tests/browser/install.sh), and the Kubernetes manifests'
# offline validator's (deploy/kubernetes/install.sh).
bash tests/browser/install.sh
bash deploy/kubernetes/install.sh

start=$SECONDS
# A phase's heading, with the seconds since the run began (the figures of a CI run's note).
phase() { echo "== $* (at $((SECONDS - start)) s)" >&2; }

run_suites() {
  local flavour=$1
  shift
  phase "building ($flavour)"
  bash deploy/build.sh "$flavour"
  phase "testing ($flavour)"
  (cd "build/$flavour" && ctest -j "${JOBS:-2}" --output-on-failure --timeout 300 --no-tests=error "$@")
}

run_suites test
if [[ ${1:-} != --quick ]]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # The 1,000-user start is the test build's (the issue's figure is for it): under the sanitizers it
  # would only measure them.
  # The browser tests (label browser) check the pages, not the daemon's memory: plain build only.
  # Of the 30 status-fault variants, the six 429s (the penalty box's own path on each endpoint):
  # a 401, 403, 500 or 503 goes through the same parsing and backoff as the fault matrix's other
  # tests and the fuzzed parsers, and the 24 take 6 s each, over a minute of the CI run on 2 cores.
  run_suites asan -E '^(many_users[.]|every_endpoint/status_fault[.].*/(401|403|500|503)_on_)' -LE browser
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  # Races, not protocol: the 30 status-fault variants and the minute-long production pacing wait
  # add nothing the other integration tests do not already run through the worker thread.
  run_suites tsan -E '^(every_endpoint/status_fault[.]|production_pacing[.]|many_users[.])' -LE browser
  phase "valgrind (the daemon in build/test)"
  bash tests/valgrind.sh
  phase "fuzzing (${FUZZ_SECONDS:-10} s per target)"
  bash fuzz/run.sh "${FUZZ_SECONDS:-10}"
  # Issue 15: the artifacts as users install them. The Debian packages (a release build, lintian
  # clean), installed under a booted systemd (exit 77: this machine cannot boot a container, and
  # says why); the image from the packaged binaries (no second build), run by podman.
  phase "the Debian packages, under a booted systemd (tests/system)"
  bash deploy/package.sh
  rc=0
  bash tests/system/booted_systemd.sh || rc=$?
  ((rc == 0 || rc == 77)) || exit "$rc"
  phase "the container image, under podman (tests/image)"
  unpacked=$(mktemp -d)
  trap 'rm -rf "$unpacked"' EXIT
  for deb in build/package/ibkr-sessiond_*.deb build/package/ibkr-sim_*.deb; do dpkg-deb -x "$deb" "$unpacked"; done
  bash deploy/image.sh --bin "$unpacked/usr/bin/ibkr-sessiond"
  bash tests/image/run.sh --sim "$unpacked/usr/bin/ibkr-sim"
fi
echo "== all tests passed in $((SECONDS - start)) s" >&2
