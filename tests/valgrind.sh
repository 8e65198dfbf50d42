#!/usr/bin/env bash
# The real daemon under valgrind --leak-check=full through a set of integration tests: any leak
# (definite or indirect), invalid access or uninitialised read makes the daemon exit 99, which fails
# the test at its TearDown (every daemon must exit 0 on SIGTERM). Uses build/test.
#   bash tests/valgrind.sh [GTEST_FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'session_flow.*:recovery.*:refusal.*:fault_matrix.an_expired*:fault_matrix.the_simulator_killed*:service_api.status_when_connected*:service_api.connection_test_verifies*:systemd_notify.sigterm*:systemd_reload.*:gateway_test.a_clients_call*:gateway_test.an_order*:gateway_websocket_test.an_upstream_drop*'}
valgrind=$(command -v valgrind) || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
# Still-reachable blocks at exit are OpenSSL's and glibc's process-lifetime caches, not leaks.
export SESSIOND_TEST_DAEMON_WRAPPER="$valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes"
start=$SECONDS
# Two GoogleTest shards side by side, one a core: valgrind runs the daemon some twenty times slower,
# and one shard alone would leave the second core idle for minutes. Each shard's output is shown
# when it fails.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for shard in 0 1; do
  GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=$shard build/test/tests/integration_tests --gtest_filter="$filter" --gtest_brief=1 \
    >"$logs/$shard.log" 2>&1 &
  pids+=($!)
done
failed=0
for shard in 0 1; do
  if ! wait "${pids[$shard]}"; then
    echo "== valgrind: shard $shard of 2 failed:" >&2
    cat "$logs/$shard.log" >&2
    failed=1
  fi
done
(( failed == 0 )) || exit 1
echo "== valgrind: the daemon ran clean through '$filter' in $((SECONDS - start)) s" >&2
