#!/usr/bin/env bash
# The container image (deploy/image.sh) run with podman, as root, against ibkr-sim on the host:
#   - the container runs read-only (--read-only), as 65532 (--user), with no capability
#     (--cap-drop=ALL) and no privilege gain (no-new-privileges), on the host's network;
#   - the private key, the API token and the gateway token reach it as podman secrets, files under
#     /run/secrets (the image's CREDENTIALS_DIRECTORY); the system trust store is a read-only bind
#     mount of Debian's bundle plus the simulator's CA over /etc/ssl/certs/ca-certificates.crt
#     (no IBKR_CA_FILE: this checks the image's OpenSSL default paths);
#   - it logs "session connected" (podman logs -f, bounded), /livez and /readyz answer 200 on
#     0.0.0.0 (beyond loopback: the gateway token is required and given);
#   - seen from the host (/proc, podman inspect, podman top: the image has no shell to exec): the
#     process runs as 65532 with no capability and NoNewPrivs, its root is mounted read-only, no
#     secret is in its environment, and the pacing record was written to the state volume;
#   - `podman stop` (the image's SIGTERM) logs out ("logout: HTTP 200") and exits 0 before the
#     stop timeout (not killed).
#   - multi-user mode with its secrets laid out as Kubernetes projects a Secret for a non-root pod
#     (deploy/kubernetes/multi-user-postgresql: root's files in group 65532, mode 0440, through
#     ..data symlinks): the master key loads and /readyz answers 200; the same key in another group
#     is refused (exit 78, the file and its mode named).
# Every wait is bounded; it removes only the container, secrets and processes it started.
# If podman cannot run any container on this machine, it says why and skips (exit 0; exit 1 with
# --require). The image must exist: bash deploy/image.sh.
#   --image NAME:TAG   default localhost/ibkr-sessiond:<version in CMakeLists.txt>
#   --sim PATH         default build/release/daemon/ibkr-sim
#   --require          a machine that cannot run containers fails the test instead of skipping it
set -euo pipefail
cd "$(dirname "$0")/../.."

version=$(sed -nE 's/^project\(ibkr-sessiond VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
image=localhost/ibkr-sessiond:$version
sim=$PWD/build/release/daemon/ibkr-sim
require=0
while (($#)); do
  case "$1" in
    --image) image=${2:?}; shift 2 ;;
    --sim) sim=${2:?}; shift 2 ;;
    --require) require=1; shift ;;
    *) echo "tests/image: unknown argument '$1' (--image NAME:TAG, --sim PATH, --require)" >&2; exit 64 ;;
  esac
done

start=$SECONDS
say() { printf 'tests/image: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
skip() {
  if ((require)); then fail "cannot run containers here: $*"; fi
  say "SKIPPED: podman cannot run a container on this machine: $*"
  exit 0
}

[[ $(id -u) -eq 0 ]] || skip "the test runs podman as root and this is uid $(id -u)"
# runc: crun (Debian's default runtime) refuses a hybrid cgroup v1/v2 host whose cgroup2 hierarchy
# has a controller ("cgroups in hybrid mode not supported"); runc runs there.
bash deploy/install-deps.sh podman runc python3 openssl
[[ -x $sim ]] || fail "no ibkr-sim at $sim (bash deploy/build.sh release, or --sim PATH)"
timeout 60 podman image exists "$image" || fail "no image $image in podman's storage (bash deploy/image.sh)"

work=$(mktemp -d /tmp/ibkr-sessiond-image-test.XXXXXX)
name=ibkr-sessiond-image-test-$$
secrets=()
sim_pid=
follow_pid=
created=0
cleanup() {
  [[ -n $follow_pid ]] && kill "$follow_pid" 2>/dev/null && wait "$follow_pid" 2>/dev/null
  ((created)) && timeout 60 podman rm -f -v -t 0 "$name" >/dev/null 2>&1
  for s in "${secrets[@]}"; do timeout 30 podman secret rm "$s" >/dev/null 2>&1; done
  [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# ---- what podman needs here ---------------------------------------------------------------------
# Root podman asks for RLIMIT_NOFILE 1048576; without CAP_SYS_RESOURCE (this host may itself be a
# container) that fails, so the limits are the caller's own (lowering is always allowed).
nofile=$(ulimit -Hn)
[[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
# The first runtime that runs the image's --version is the one used.
global=()
tried=()
for runtime in default runc; do
  opts=()
  [[ $runtime != default ]] && opts=(--runtime "$runtime")
  if out=$(timeout 120 podman "${opts[@]}" run --rm --network=host "${limits[@]}" "$image" --version 2>&1); then
    [[ $out == "ibkr-sessiond $version" ]] || fail "the image's --version says '$out'"
    global=("${opts[@]}")
    break
  else
    rc=$?
    # 125: podman itself failed, 126: the runtime could not start the process (OCI error).
    ((rc == 125 || rc == 126)) || fail "the image does not run (exit $rc): $out"
    tried+=("$runtime runtime (exit $rc): ${out//$'\n'/ }")
  fi
done
if ((${#tried[@]} == 2)); then
  skip "${tried[0]}; ${tried[1]}"
fi
say "podman ${global[*]:-(default runtime)} run ${limits[*]} --network=host: runs here"

# ---- the simulator on the host ------------------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
username=imagetest$$  # unique: the daemon's per-username lock is an abstract socket of the host's network
mkfifo "$work/sim.out"
"$sim" --client-public-key "$work/key.pem" --credential "$username" --allowed-ip 127.0.0.1 \
  --ca-out "$work/sim-ca.pem" --validate-min-interval 0 >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
exec 3<"$work/sim.out"
IFS= read -r -t 20 ready <&3 || fail "ibkr-sim did not start: $(cat "$work/sim.log")"
sim_port=$(sed -E 's/.*"https_port":([0-9]+).*/\1/' <<<"$ready")
[[ $sim_port =~ ^[0-9]+$ ]] || fail "ibkr-sim said '$ready'"

# ---- secrets and trust as files -----------------------------------------------------------------
api_token=image-test-$(openssl rand -hex 16)
gateway_token=image-gw-$(openssl rand -hex 16)
printf '%s' "$api_token" >"$work/api-token"
printf '%s' "$gateway_token" >"$work/gateway-token"
secret_args=()
for pair in ibkr-private-key:key.pem sessiond-api-token:api-token sessiond-gateway-token:gateway-token; do
  target=${pair%%:*}
  secret=$name-$target
  timeout 30 podman secret create "$secret" "$work/${pair#*:}" >/dev/null
  secrets+=("$secret")
  secret_args+=(--secret "$secret,type=mount,target=$target,uid=65532,gid=65532,mode=0400")
done
cat /etc/ssl/certs/ca-certificates.crt "$work/sim-ca.pem" >"$work/trust.pem"

# ---- run ----------------------------------------------------------------------------------------
# How every container of this test runs: confined as the manifests run it, on the host's network.
confined=(--network=host --read-only --user 65532:65532 --cap-drop=ALL --security-opt no-new-privileges
  "${limits[@]}" --stop-timeout 20)
run_args=(
  --name "$name" --detach "${confined[@]}"
  # podman 4.3 mounts an empty read-only /run/secrets over the --read-only root and cannot place a
  # secret file in it (containers/podman#15541): a tmpfs there takes them
  --tmpfs "/run/secrets:size=64k,mode=0755" "${secret_args[@]}"
  --volume "$work/trust.pem:/etc/ssl/certs/ca-certificates.crt:ro"
  -e IBKR_CLIENT_ID=sim-client -e IBKR_CLIENT_KEY_ID=main -e "IBKR_CREDENTIAL=$username"
  -e IBKR_ACCOUNT_ID=DU1234567 -e IBKR_ALLOWED_IP=127.0.0.1 -e IBKR_ENV=paper
  -e "IBKR_BASE_URL=https://127.0.0.1:$sim_port"
  # the simulator's pace, as deploy/demo.sh; a free port on every interface
  -e IBKR_TICKLE_INTERVAL=2 -e IBKR_INIT_SETTLE=0.5 -e IBKR_PACE_VALIDATE=0 -e SESSIOND_SIMULATOR_LIMITS=true
  -e SESSIOND_LISTEN=0.0.0.0:0
)
say "podman ${global[*]} run ${run_args[*]} $image"
created=1
timeout 120 podman "${global[@]}" run "${run_args[@]}" "$image" >/dev/null || fail "podman run failed"

# ---- wait for the session (the log, bounded) ---------------------------------------------------
mkfifo "$work/log.fifo"
timeout 120 podman logs -f "$name" >"$work/log.fifo" 2>&1 &
follow_pid=$!
exec 4<"$work/log.fifo"
: >"$work/daemon.log"
api_port=
connected=0
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)) && IFS= read -r -t $((deadline - SECONDS)) line <&4; do
  printf '%s\n' "$line" >>"$work/daemon.log"
  [[ $line =~ "API listening on http://0.0.0.0:"([0-9]+) ]] && api_port=${BASH_REMATCH[1]}
  if [[ $line == *"session connected"* ]]; then connected=1; break; fi
done
if ((connected == 0)); then
  cat "$work/daemon.log" >&2
  fail "no \"session connected\" within 60 s ($(podman inspect --format '{{.State.Status}} exit {{.State.ExitCode}}' "$name" 2>&1))"
fi
[[ -n $api_port ]] || fail "the log never said where the API listens"
say "connected in $((SECONDS - start)) s since the test began; API on 0.0.0.0:$api_port"

# ---- probes -------------------------------------------------------------------------------------
probe() {
  python3 - "http://127.0.0.1:$api_port$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    res = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    res = e
print(res.status, res.read().decode().strip().replace("\n", " ")[:200])
PY
}
for path in /livez /readyz; do
  answer=$(probe "$path") || fail "GET $path: no answer"
  [[ $answer == "200 "* ]] || fail "GET $path: $answer"
  say "GET $path: $answer"
done

# ---- what it runs as, seen from the host --------------------------------------------------------
pid=$(podman inspect --format '{{.State.Pid}}' "$name")
[[ $pid =~ ^[1-9][0-9]*$ ]] || fail "no pid for the container: $pid"
status=$(cat "/proc/$pid/status")
grep -Eq '^Uid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || fail "not uid 65532: $(grep ^Uid: <<<"$status")"
grep -Eq '^Gid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || fail "not gid 65532: $(grep ^Gid: <<<"$status")"
grep -Eq '^CapEff:\s+0+$' <<<"$status" || fail "has capabilities: $(grep ^CapEff: <<<"$status")"
grep -Eq '^CapPrm:\s+0+$' <<<"$status" || fail "has capabilities: $(grep ^CapPrm: <<<"$status")"
grep -Eq '^NoNewPrivs:\s+1$' <<<"$status" || fail "no-new-privileges is off"
[[ $(readlink "/proc/$pid/exe") == */usr/bin/ibkr-sessiond ]] || fail "pid $pid is $(readlink "/proc/$pid/exe")"
# The container's root in its own mount table: field 5 is the mount point, field 6 its options.
root_opts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")
[[ ,$root_opts, == *,ro,* ]] || fail "the root is mounted '$root_opts', not read-only"
[[ $(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name") == true ]] || fail "podman: ReadonlyRootfs is not true"
top=$(podman top "$name" user huser pid args | tail -n +2)
say "podman top (user huser pid args): $top"
read -r top_user top_huser _ <<<"$top"
[[ $top_user == sessiond && $top_huser == 65532 ]] || fail "podman top says user $top_user, host user $top_huser"
environment=$(tr '\0' '\n' <"/proc/$pid/environ")
grep -q '^CREDENTIALS_DIRECTORY=/run/secrets$' <<<"$environment" || fail "CREDENTIALS_DIRECTORY is not /run/secrets"
if grep -Fq -e "$api_token" -e "$gateway_token" -e "PRIVATE KEY" <<<"$environment"; then fail "a secret is in the environment"; fi
volume=$(podman inspect --format '{{range .Mounts}}{{if eq .Destination "/var/lib/ibkr-sessiond"}}{{.Source}}{{end}}{{end}}' "$name")
[[ -n $volume && -d $volume ]] || fail "no state volume at /var/lib/ibkr-sessiond"
record=$(find "$volume" -maxdepth 1 -type f -user 65532 | head -1)
[[ -n $record ]] || fail "the state volume holds no file of 65532: $(ls -la "$volume")"
say "uid/gid 65532, CapEff 0, NoNewPrivs 1, root mounted $root_opts, secrets not in the environment, state written: $(basename "$record")"

# ---- SIGTERM: logout, exit 0 --------------------------------------------------------------------
stop_start=$SECONDS
timeout 60 podman stop -t 20 "$name" >/dev/null || fail "podman stop failed"
stop_seconds=$((SECONDS - stop_start))
# The follower ends with the container; whatever is left in the pipe is the shutdown's log.
while IFS= read -r -t 10 line <&4; do printf '%s\n' "$line" >>"$work/daemon.log"; done
wait "$follow_pid" 2>/dev/null || true
follow_pid=
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
grep -q "received SIGTERM; stopping" "$work/daemon.log" || { cat "$work/daemon.log" >&2; fail "no \"received SIGTERM\" in the log"; }
grep -q "logout: HTTP 200" "$work/daemon.log" || { cat "$work/daemon.log" >&2; fail "no \"logout: HTTP 200\" in the log"; }
[[ $exit_code == 0 ]] || { cat "$work/daemon.log" >&2; fail "exit code $exit_code after SIGTERM"; }
((stop_seconds < 20)) || fail "podman stop took ${stop_seconds} s: the daemon was killed, not stopped"
say "podman stop: SIGTERM, logged out, exit 0 in ${stop_seconds} s"

timeout 60 podman rm -v "$name" >/dev/null || fail "podman rm failed"
created=0
say "the container's log (podman logs):"
sed 's/^/    /' "$work/daemon.log" >&2

# ---- multi-user: the master key as Kubernetes mounts a Secret for a non-root pod ---------------
# deploy/kubernetes/multi-user-postgresql projects the tokens' and the master key's Secrets into
# /run/secrets. With fsGroup 65532, Kubernetes writes them as root's files in group 65532, mode
# 0440, each name a symlink through ..data into a timestamped directory. The same tree, bind-mounted
# read-only: the daemon (as 65532) takes that master key and is ready (SQLite in the state volume
# here; the manifests use PostgreSQL). Then the key's group changed to another: 0440 is too wide
# for it, and the daemon refuses to start (exit 78) naming the file and its mode.
k8s_secrets() { # k8s_secrets DIR GROUP_OF_THE_KEY
  local dir=$1 stamped=..2026_12_06_12_00_00.000000001
  install -d -m 0750 -o 0 -g 65532 "$dir" "$dir/$stamped"
  install -m 0440 -o 0 -g 65532 "$work/api-token" "$dir/$stamped/sessiond-api-token"
  head -c 32 /dev/urandom >"$dir/$stamped/sessiond-master-key_1"
  chown "0:$2" "$dir/$stamped/sessiond-master-key_1"
  chmod 0440 "$dir/$stamped/sessiond-master-key_1"
  ln -s "$stamped" "$dir/..data"
  ln -s ..data/sessiond-api-token "$dir/sessiond-api-token"
  ln -s ..data/sessiond-master-key_1 "$dir/sessiond-master-key_1"
}
multi_user_run() { # multi_user_run SECRETS_DIR: the container's exit code, or "running" once /readyz is 200
  local port= deadline=$((SECONDS + 60))
  timeout 120 podman "${global[@]}" run --name "$name" --detach \
    "${confined[@]}" --volume "$1:/run/secrets:ro" \
    -e ENABLE_MULTI_USER=true -e SESSIOND_LISTEN=127.0.0.1:0 -e SESSIOND_GATEWAY=off \
    "$image" >/dev/null || fail "podman run (multi-user) failed"
  while ((SECONDS < deadline)); do
    [[ $(podman inspect --format '{{.State.Status}}' "$name") == running ]] || break
    port=$(podman logs "$name" 2>&1 | sed -nE 's|.*API listening on http://127\.0\.0\.1:([0-9]+).*|\1|p' | tail -n1)
    [[ -n $port ]] && api_port=$port && [[ $(probe /readyz) == "200 "* ]] && { echo running; return; }
    sleep 0.2
  done
  timeout 30 podman wait "$name" >/dev/null 2>&1 || true
  podman inspect --format '{{.State.ExitCode}}' "$name"
}
k8s_secrets "$work/k8s-good" 65532
created=1 # (set here: multi_user_run runs in a subshell)
outcome=$(multi_user_run "$work/k8s-good")
podman logs "$name" >"$work/multi-user.log" 2>&1 || true
if [[ $outcome != running ]]; then
  sed 's/^/    /' "$work/multi-user.log" >&2
  fail "multi-user with the master key as Kubernetes mounts it (root:65532, 0440): not ready, exit $outcome"
fi
timeout 60 podman stop -t 20 "$name" >/dev/null || fail "podman stop (multi-user) failed"
timeout 60 podman rm -v "$name" >/dev/null
created=0
say "multi-user: the master key projected as Kubernetes does (root:65532 0440 through ..data) loaded; /readyz 200"

k8s_secrets "$work/k8s-other-group" 65533
created=1
outcome=$(multi_user_run "$work/k8s-other-group")
podman logs "$name" >"$work/multi-user-refused.log" 2>&1 || true
timeout 60 podman rm -f -v -t 0 "$name" >/dev/null 2>&1
created=0
refusal=$(grep -m1 -o 'master key file /run/secrets/sessiond-master-key_1 has mode 0440[^(]*' "$work/multi-user-refused.log" || true)
if [[ $outcome != 78 || -z $refusal ]]; then
  sed 's/^/    /' "$work/multi-user-refused.log" >&2
  fail "a master key of another group (root:65533, 0440) was not refused with exit 78: $outcome"
fi
say "multi-user: the same key in group 65533 refused, exit 78: \"$refusal\""
say "passed in $((SECONDS - start)) s"
