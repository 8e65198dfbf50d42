#!/usr/bin/env bash
# The demo: ibkr-sessiond keeping an IBKR session alive against the local simulator ibkr-sim.
# Installs what is missing, builds a release binary, creates a throw-away key and settings, starts
# ibkr-sim, runs `ibkr-sessiond test-connection`, then runs the daemon until the session is
# connected and a few keep-alive tickles went through, asks its HTTP API what it is doing (status,
# readiness, a connection test, metrics), and stops it (SIGTERM: it logs out).
#   --follow   keep the daemon running until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."

follow=0
[[ ${1:-} == --follow ]] && follow=1

bash deploy/install-deps.sh
bash deploy/build.sh release
bin=$PWD/build/release/daemon

work=$(mktemp -d /tmp/ibkr-sessiond-demo.XXXXXX)
sim_pid=
daemon_pid=
cleanup() {
  [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "a throw-away RSA key and settings in $work"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/demo-key.pem" 2>/dev/null
chmod 600 "$work/demo-key.pem"
cat >"$work/demo.env" <<ENV
IBKR_CLIENT_ID=demo-client
IBKR_CLIENT_KEY_ID=main
IBKR_PRIVATE_KEY_FILE=$work/demo-key.pem
IBKR_CREDENTIAL=demouser
IBKR_ACCOUNT_ID=DU1234567
IBKR_ALLOWED_IP=127.0.0.1
IBKR_ENV=paper
ENV
sed 's/^/    /' "$work/demo.env"

say "starting ibkr-sim (the IBKR stand-in, HTTPS on loopback)"
mkfifo "$work/sim.out"
# IBKR allows one validate per minute, and so does the simulator by default. The demo validates in
# test-connection and again in the daemon moments later, so it lifts that limit on both sides.
"$bin/ibkr-sim" --env-file "$work/demo.env" --ca-out "$work/sim-ca.pem" --validate-min-interval 0 \
  >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
exec 3<"$work/sim.out"
IFS= read -r -t 20 ready <&3 || { echo "ibkr-sim did not start:"; cat "$work/sim.log"; exit 1; }
port=$(sed -E 's/.*"https_port":([0-9]+).*/\1/' <<<"$ready")
echo "    $ready"

export IBKR_BASE_URL=https://127.0.0.1:$port IBKR_CA_FILE=$work/sim-ca.pem
# IBKR_PACE_VALIDATE=0 is looser than IBKR's limit: the daemon accepts it only with the simulator
# switch. The pacing record stays in the throw-away directory, not in ~/.local/state.
export IBKR_TICKLE_INTERVAL=2 IBKR_INIT_SETTLE=0.5 IBKR_PACE_VALIDATE=0 SESSIOND_SIMULATOR_LIMITS=true
export SESSIOND_STATE_DIR=$work/state
# The API on a free loopback port (the log says which), with a throw-away token for POST /api/ibkr/test.
export SESSIOND_LISTEN=127.0.0.1:0 SESSIOND_API_TOKEN=demo-$(openssl rand -hex 16)

# api METHOD PATH: the daemon's answer, status line first (python3's standard library: no curl needed).
api() {
  python3 - "$1" "http://127.0.0.1:$api_port$2" <<'PY'
import json, os, sys, urllib.error, urllib.request
method, url = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
req.add_header("Authorization", "Bearer " + os.environ["SESSIOND_API_TOKEN"])
try:
    res = urllib.request.urlopen(req, timeout=30)
except urllib.error.HTTPError as e:
    res = e
body = res.read().decode()
print(f"{method} {url} -> {res.status}")
try:
    print(json.dumps(json.loads(body), indent=2))
except ValueError:
    print(body, end="")
PY
}

say "ibkr-sessiond check-config"
"$bin/ibkr-sessiond" check-config --env-file "$work/demo.env" | sed 's/^/    /'

say "ibkr-sessiond test-connection (each step once, then logout)"
"$bin/ibkr-sessiond" test-connection --env-file "$work/demo.env" 2>/dev/null | sed 's/^/    /'

say "ibkr-sessiond run (tickling every ${IBKR_TICKLE_INTERVAL} s)"
mkfifo "$work/daemon.log"
"$bin/ibkr-sessiond" run --env-file "$work/demo.env" --log-level debug 2>"$work/daemon.log" &
daemon_pid=$!
exec 4<"$work/daemon.log"
connected=0
tickles=0
api_port=
while IFS= read -r -t 30 line <&4; do
  echo "    $line"
  [[ $line =~ "API listening on http://127.0.0.1:"([0-9]+) ]] && api_port=${BASH_REMATCH[1]}
  if [[ $line == *"session connected"* ]] && ((connected == 0)); then
    connected=1
    if ((follow)); then
      umask 077
      printf '%s\n' "$SESSIOND_API_TOKEN" >"$work/api-token"
      say "the page: http://127.0.0.1:$api_port/ (open it and watch the session; Test Connection asks for the API token, which is in $work/api-token); Ctrl-C stops the demo"
    fi
  fi
  if ((connected)) && [[ $line == *"tickle: HTTP 200"* ]]; then
    tickles=$((tickles + 1))
    ((follow == 0 && tickles >= 3)) && break
  fi
done
if ((connected == 0)); then
  echo "demo: the session did not connect" >&2
  exit 1
fi

say "what the daemon says about itself (its HTTP API)"
api GET /api/ibkr/status | sed 's/^/    /'
api GET '/readyz?verbose' | sed 's/^/    /'
api POST /api/ibkr/test | sed 's/^/    /'
api GET /metrics | grep -E '^(ibkr_session_up|ibkr_logins_total|ibkr_tickles_total|sessiond_build_info)' | sed 's/^/    /'

say "a trading application's calls through the daemon's gateway (no credentials: the daemon's session)"
gw() {
  python3 - "$1" "http://127.0.0.1:$api_port$2" <<'PY'
import sys, urllib.error, urllib.request
method, url = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
try:
    res = urllib.request.urlopen(req, timeout=30)
except urllib.error.HTTPError as e:
    res = e
print(f"{method} {url} -> {res.status}: {res.read().decode()[:160]}")
PY
}
gw GET /v1/api/iserver/accounts | sed 's/^/    /'
gw POST /v1/api/tickle | sed 's/^/    /'
gw GET '/v1/api/iserver/marketdata/snapshot?conids=265598&fields=31' | sed 's/^/    /'
gw POST /v1/api/logout | sed 's/^/    /'

say "stopping ibkr-sessiond (SIGTERM: logs out of IBKR, exits 0)"
kill -TERM "$daemon_pid"
while IFS= read -r -t 10 line <&4; do echo "    $line"; done
wait "$daemon_pid" && status=0 || status=$?
daemon_pid=
echo "    exit code $status"

say "demo done: the session was connected and kept alive with tickles, then logged out"
echo "    the daemon's page was at http://127.0.0.1:$api_port/ while it ran;"
echo "    bash deploy/demo.sh --follow keeps it running: open that URL and watch the session there"
