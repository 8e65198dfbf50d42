#!/usr/bin/env bash
# The real daemon under valgrind --leak-check=full through a set of integration tests: any leak
# (definite or indirect), invalid access or uninitialised read makes the daemon exit 99, which fails
# the test at its TearDown (every daemon must exit 0 on SIGTERM). Uses build/test.
#   bash tests/valgrind.sh [GTEST_FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'session_flow.*:recovery.*:refusal.*:fault_matrix.an_expired*:fault_matrix.the_simulator_killed*:service_api.status_when_connected*:service_api.connection_test_verifies*:systemd_notify.sigterm*:systemd_reload.*'}
valgrind=$(command -v valgrind) || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
# Still-reachable blocks at exit are OpenSSL's and glibc's process-lifetime caches, not leaks.
export SESSIOND_TEST_DAEMON_WRAPPER="$valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes"
start=$SECONDS
build/test/tests/integration_tests --gtest_filter="$filter" --gtest_brief=1
echo "== valgrind: the daemon ran clean through '$filter' in $((SECONDS - start)) s" >&2
