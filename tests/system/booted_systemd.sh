#!/usr/bin/env bash
# Issue 15's "package under a booted systemd": boots a Debian 12 container with systemd as PID 1
# (systemd-nspawn) and runs steps 1-11 against the installed package, ibkr-sim on the host (step 8
# upgrades it to a newer version of itself, repacked here).
#   bash tests/system/booted_systemd.sh [IBKR_SESSIOND_DEB [IBKR_SIM]]
# IBKR_SESSIOND_DEB defaults to the newest build/package/ibkr-sessiond_*.deb; IBKR_SIM is the ibkr-sim
# package (.deb, unpacked here, not installed), a directory holding ibkr-sim, or the binary itself;
# default: the newest build/package/ibkr-sim_*.deb, else build/release/daemon/ibkr-sim.
#
# Exit 0 all steps passed; 1 a step failed (the results say which and why); 77 skipped: the
# machine cannot run the test (not root, no systemd-nspawn, no network for the first debootstrap,
# or a container does not boot here), always with a message saying why.
#
# The root: tests/system/root_cache.sh (cached, rebuilt after 14 days). Each run boots a throw-away
# overlay of it (the cache itself is never written), first once with a unit that only says
# "booted" (can this machine boot a container at all?), then with sessiond-test.service, which runs
# tests/system/in_container.sh and powers off. Results, journals and the security report are kept
# in $IBKR_SYSTEM_TEST_OUT (default build/system-test) for reading after the run;
# IBKR_SYSTEM_TEST_KEEP=1 keeps the throw-away directory too (the container's changes in upper/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

skip() { echo "booted_systemd: SKIPPED: $*" >&2; exit 77; }
fail() { echo "booted_systemd: FAILED: $*" >&2; exit 1; }
say() { echo "booted_systemd: $*" >&2; }

deb=${1:-$(ls -t "$repo"/build/package/ibkr-sessiond_*.deb 2>/dev/null | head -n1 || true)}
sim=${2:-$(ls -t "$repo"/build/package/ibkr-sim_*.deb 2>/dev/null | head -n1 || true)}
[[ -n $sim ]] || sim=$repo/build/release/daemon/ibkr-sim
[[ -n $deb && -f $deb ]] || fail "no ibkr-sessiond package: give its path, or build it (bash deploy/package.sh)"
[[ -e $sim ]] || fail "no ibkr-sim: give the ibkr-sim package, its directory or the binary"
deb=$(realpath "$deb")
sim=$(realpath "$sim")
results_dir=${IBKR_SYSTEM_TEST_OUT:-$repo/build/system-test}

[[ $(id -u) -eq 0 ]] || skip "needs root (systemd-nspawn, mounts)"
# A fresh machine has neither: installed here (only what is missing), so that the test runs there
# rather than skipping for want of a package.
bash "$repo/deploy/install-deps.sh" systemd-container debootstrap
command -v systemd-nspawn >/dev/null || skip "no systemd-nspawn (apt install systemd-container)"
command -v debootstrap >/dev/null || skip "no debootstrap (apt install debootstrap)"
command -v openssl >/dev/null || skip "no openssl"
[[ -d /sys/fs/cgroup ]] || skip "no /sys/fs/cgroup: systemd cannot run as PID 1 in a container here"

start=$SECONDS
rc=0
root=$(bash "$here/root_cache.sh" "$deb") || rc=$?
((rc == 77)) && skip "the root cache cannot be built here (see above)"
((rc == 0)) || fail "the root cache could not take the package's dependencies (see above)"

work=$(mktemp -d /var/tmp/ibkr-sessiond-system.XXXXXX)
sim_pid=
nspawn_tmpfs=0
merged=
cleanup() {
  local status=$?
  if [[ -n $sim_pid ]]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  if [[ -n $merged ]] && mountpoint -q "$merged"; then umount "$merged" || umount -l "$merged"; fi
  ((nspawn_tmpfs)) && { umount /run/systemd/nspawn || umount -l /run/systemd/nspawn; }
  if [[ -n ${IBKR_SYSTEM_TEST_KEEP:-} ]]; then
    echo "booted_systemd: kept $work (IBKR_SYSTEM_TEST_KEEP): the container's root in $work/upper" >&2
  else
    rm -rf "$work"
  fi
  return "$status"
}
trap cleanup EXIT

# systemd-nspawn keeps its propagation mounts under /run/systemd/nspawn; where /run is not a tmpfs
# (these machines) the container's mounts fail without one there. Mounted only if not yet, and
# unmounted only if mounted here.
if ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn
  mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
  nspawn_tmpfs=1
fi

# The throw-away root: an overlay on the cache (or a copy where overlayfs is not available).
mkdir -p "$work/upper" "$work/ovl" "$work/root" "$work/in" "$work/out"
if mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$work/root" 2>/dev/null; then
  merged=$work/root
else
  say "no overlayfs here: copying the cached root"
  cp -a "$root/." "$work/root/"
fi
mkdir -p "$work/root/srv/in" "$work/root/srv/out"

# boot UNIT SECONDS: boots the root with systemd as PID 1 and UNIT enabled; the unit powers off.
# The console goes to $work/console.log and, prefixed, to stderr: the test unit's output (systemd's
# own status lines are off: systemd.show_status=false on PID 1's command line). --console=read-only, not the issue's
# pipe: both boot, but in pipe mode the container has no /dev/console (systemd-nspawn(1)), so a
# unit's StandardOutput=console goes nowhere and a hang shows nothing.
boot() {
  local unit=$1 limit=$2
  ln -sf "/etc/systemd/system/$unit" "$work/root/etc/systemd/system/multi-user.target.wants/$unit"
  local t0 code=0
  t0=$(date +%s%N)
  # --register=no: no machined; --keep-unit: stay in the caller's scope (no transient unit on the
  # host's systemd, which these machines may not have); -k: the container gets 20 s to power off
  # after SIGTERM before SIGKILL.
  timeout -k 20 "$limit" systemd-nspawn -D "$work/root" -b --register=no --keep-unit --console="${IBKR_SYSTEM_TEST_CONSOLE:-read-only}" \
    --bind-ro="$work/in:/srv/in" --bind="$work/out:/srv/out" --setenv=SYSTEMD_COLORS=0 \
    -- systemd.show_status=false > >(tee -a "$work/console.log" | sed -u 's/^/    | /' >&2) 2>&1 </dev/null || code=$?
  boot_ms=$((($(date +%s%N) - t0) / 1000000))
  rm -f "$work/root/etc/systemd/system/multi-user.target.wants/$unit"
  return "$code"
}

# 1. Can this machine boot a container at all? A unit that writes "booted" and powers off.
cat >"$work/root/etc/systemd/system/boot-probe.service" <<'EOF'
[Unit]
Description=ibkr-sessiond system test: boot probe
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "booted $(systemctl is-system-running)" >/srv/out/booted'
ExecStopPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
EOF
say "boot probe: can this machine boot a container with systemd as PID 1?"
probe_rc=0
boot boot-probe.service 60 || probe_rc=$?
if [[ ! -s $work/out/booted ]]; then
  skip "systemd-nspawn could not boot a container here (exit $probe_rc after $boot_ms ms): $(tail -n5 "$work/console.log" | tr '\n' ' ')"
fi
say "boot probe: $(cat "$work/out/booted") in $boot_ms ms (nspawn start to exit, poweroff included)"
probe_ms=$boot_ms
rm -f "$work/out/booted" "$work/root/etc/systemd/system/boot-probe.service"

# 2. ibkr-sim on the host, as deploy/demo.sh starts it. The container shares the host's network
#    namespace (no --private-network), so the daemon inside reaches it at 127.0.0.1.
case $sim in
  *.deb)
    dpkg-deb -x "$sim" "$work/sim-pkg"
    sim_bin=$(find "$work/sim-pkg" -type f -name ibkr-sim -perm -u+x | head -n1)
    ;;
  *) if [[ -d $sim ]]; then sim_bin=$sim/ibkr-sim; else sim_bin=$sim; fi ;;
esac
[[ -x ${sim_bin:-} ]] || fail "no ibkr-sim binary in $sim"

# A throw-away key, and a username of this run's own: the daemon's per-username lock is an abstract
# socket in the (shared) network namespace, so no other daemon on this host may hold it.
user=systest$RANDOM$RANDOM
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/in/private-key.pem" 2>/dev/null
openssl rand -hex 32 >"$work/in/api-token"
cat >"$work/sim.env" <<EOF
IBKR_CLIENT_ID=systest-client
IBKR_CLIENT_KEY_ID=main
IBKR_PRIVATE_KEY_FILE=$work/in/private-key.pem
IBKR_CREDENTIAL=$user
IBKR_ACCOUNT_ID=DU1234567
IBKR_ALLOWED_IP=127.0.0.1
IBKR_ENV=paper
EOF
mkfifo "$work/sim.out"
"$sim_bin" --env-file "$work/sim.env" --ca-out "$work/in/sim-ca.pem" --validate-min-interval 0 \
  >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
exec 3<"$work/sim.out"
IFS= read -r -t 20 ready <&3 || fail "ibkr-sim did not start: $(tail -n5 "$work/sim.log" | tr '\n' ' ')"
https_port=$(sed -nE 's/.*"https_port":([0-9]+).*/\1/p' <<<"$ready")
control_port=$(sed -nE 's/.*"control_port":([0-9]+).*/\1/p' <<<"$ready")
say "ibkr-sim: $ready"
printf 'SIM_HTTPS_PORT=%s\nSIM_CONTROL_PORT=%s\n' "$https_port" "$control_port" >"$work/in/sim.ports"

# The daemon's settings, as an operator writes /etc/ibkr-sessiond/ibkr-sessiond.env (no secret:
# the key and the token are credentials), with deploy/demo.sh's fast timings; the API on a free
# port (the container shares the host's ports).
cat >"$work/in/daemon.env" <<EOF
IBKR_CLIENT_ID=systest-client
IBKR_CLIENT_KEY_ID=main
IBKR_CREDENTIAL=$user
IBKR_ACCOUNT_ID=DU1234567
IBKR_ALLOWED_IP=127.0.0.1
IBKR_ENV=paper
IBKR_BASE_URL=https://127.0.0.1:$https_port
IBKR_CA_FILE=/etc/ibkr-sessiond/sim-ca.pem
IBKR_TICKLE_INTERVAL=2
IBKR_INIT_SETTLE=0.5
IBKR_PACE_VALIDATE=0
SESSIOND_SIMULATOR_LIMITS=true
SESSIOND_LISTEN=127.0.0.1:0
EOF
cp "$deb" "$work/in/ibkr-sessiond.deb"
# Step 8's upgrade: the same package under a newer version, repacked, not rebuilt, so that dpkg runs
# a real upgrade (the old prerm with "upgrade", the new postinst's try-restart) with an unchanged
# conffile, which dpkg must keep as the operator changed it without asking. --root-owner-group:
# root's files whoever unpacked them; -Zxz: what Debian 12's dpkg reads, whatever this host's
# dpkg-deb defaults to.
version=$(dpkg-deb -f "$deb" Version)
next_version=$version+upgradetest1
dpkg --compare-versions "$next_version" gt "$version" || fail "$next_version does not sort after $version"
dpkg-deb -R "$deb" "$work/next"
sed -i "s/^Version: .*/Version: $next_version/" "$work/next/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$work/next" "$work/in/ibkr-sessiond-next.deb" >/dev/null
rm -rf "$work/next"
[[ $(dpkg-deb -f "$work/in/ibkr-sessiond-next.deb" Version) == "$next_version" ]] || fail "the repacked package is not $next_version"
not_root=$(dpkg-deb -c "$work/in/ibkr-sessiond-next.deb" | awk '$2 != "root/root"')
[[ -z $not_root ]] || fail "the repacked package has files not root's: $not_root"
install -m 0755 "$here/in_container.sh" "$work/in/in_container.sh"

# 3. The test itself: a oneshot unit after multi-user.target that powers off however it ends. Its
#    bound leaves room for every step's own bounds (step 8's upgrade added 165 s of them); a pass
#    takes under a minute.
cat >"$work/root/etc/systemd/system/sessiond-test.service" <<'EOF'
[Unit]
Description=ibkr-sessiond system test (issue 15, steps 1-11)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/srv/in/in_container.sh
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=360
[Install]
WantedBy=multi-user.target
EOF
say "booting the test container ($(basename "$deb"))"
test_rc=0
boot sessiond-test.service 420 || test_rc=$?

rm -rf "$results_dir"
mkdir -p "$results_dir"
cp -a "$work/out/." "$results_dir/"
cp "$work/console.log" "$work/sim.log" "$results_dir/" 2>/dev/null || true

echo
echo "== ibkr-sessiond under a booted systemd ($(basename "$deb")): boot probe $probe_ms ms, test boot $boot_ms ms, all $((SECONDS - start)) s"
[[ -s $work/out/results ]] || fail "no results: the test unit did not run (systemd-nspawn exit $test_rc); see $results_dir/console.log"
cat "$work/out/results"
echo "   (details in $results_dir)"
failed=$(grep -c '^[0-9]* fail ' "$work/out/results" || true)
count=$(grep -c '^[0-9]* ' "$work/out/results" || true)
((test_rc == 0)) || fail "systemd-nspawn exited $test_rc (124: the $((420)) s bound)"
((failed == 0)) || fail "$failed of the 11 steps failed"
((count == 11)) || fail "only $count of the 11 steps ran"
echo "== all 11 steps passed"
