#!/usr/bin/env bash
# The cached Debian 12 root that tests/system/booted_systemd.sh boots with systemd as PID 1.
#   bash tests/system/root_cache.sh [PACKAGE.deb ...]
# Prints the root's path on stdout (everything else goes to stderr).
#
# The root is `debootstrap --variant=minbase bookworm` from the mirror this host's apt uses, plus
# systemd and systemd-sysv (systemd as /sbin/init), brought up to date with bookworm-updates and
# bookworm-security. Nothing else: no dbus (systemctl and systemd-analyze talk to PID 1 over its
# private socket as root), no curl or python3 (the test talks to ibkr-sim's plain-HTTP control port
# with bash's /dev/tcp). The Depends of each PACKAGE.deb given are installed into the cached root
# here, once, so that `apt install ./PACKAGE.deb` inside the booted container resolves everything
# locally and downloads nothing.
#
# Cached in $IBKR_SYSTEM_TEST_CACHE (default /var/cache/ibkr-sessiond-tests), reused while younger
# than $IBKR_SYSTEM_TEST_MAX_AGE_DAYS (default 14: bookworm's point releases and security updates
# move the libraries the package links against), rebuilt when missing, older, or incomplete (a
# build that did not finish never becomes the cache: it is built beside it and renamed at the end).
# Needs root and the network to Debian's archive (only when building or adding dependencies).
set -euo pipefail

cache=${IBKR_SYSTEM_TEST_CACHE:-/var/cache/ibkr-sessiond-tests}
max_age_days=${IBKR_SYSTEM_TEST_MAX_AGE_DAYS:-14}
root=$cache/bookworm-minbase
stamp=$root/.ibkr-sessiond-test-root

log() { echo "root_cache: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "needs root (debootstrap, chroot)"
  exit 77
fi
for tool in debootstrap chroot dpkg-deb; do
  command -v "$tool" >/dev/null || { log "needs $tool (apt install debootstrap)"; exit 77; }
done

# The mirror this host's apt uses for bookworm (deb822 or one-line format), else deb.debian.org.
mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources |
  grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ') || true
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
security=${mirror%/debian}/debian-security

# Runs a command in the root with /proc, /sys and /dev bound (apt's maintainer scripts want /proc
# and /dev/null); always unmounts, in reverse order.
in_root() {
  local dir=$1
  shift
  local mounted=()
  local rc=0
  for m in proc sys dev; do
    mount --rbind "/$m" "$dir/$m" && mount --make-rslave "$dir/$m" && mounted=("$dir/$m" "${mounted[@]}")
  done
  # No service may start inside the chroot (there is no init): policy-rc.d refuses, for the
  # duration of this command only.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 chroot "$dir" "$@" || rc=$?
  rm -f "$dir/usr/sbin/policy-rc.d"
  for m in "${mounted[@]}"; do umount -R "$m" || umount -lR "$m"; done
  return "$rc"
}

fresh() {
  [[ -f $stamp ]] || return 1
  local age_days=$((($(date +%s) - $(stat -c %Y "$stamp")) / 86400))
  ((age_days < max_age_days))
}

build() {
  local new=$root.new
  rm -rf "$new"
  mkdir -p "$cache"
  log "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
  local t0=$SECONDS
  if ! debootstrap --variant=minbase --include=systemd,systemd-sysv bookworm "$new" "$mirror" >&2; then
    rm -rf "$new"
    log "debootstrap from $mirror failed (no network to Debian's archive?)"
    exit 77
  fi
  cat >"$new/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
  # The container's identity: its own hostname; a machine-id that systemd fills at first boot
  # (an empty file: each throw-away copy gets its own, and no "first boot" units run).
  echo ibkr-sessiond-test >"$new/etc/hostname"
  : >"$new/etc/machine-id"
  # Nothing in the test needs these, and they only slow the boot down or wait on what a container
  # lacks: getty on consoles nobody reads, timers that run apt and man-db while the test runs.
  in_root "$new" sh -c 'apt-get update -q && apt-get -y -q upgrade' >&2
  in_root "$new" systemctl mask \
    getty@.service console-getty.service serial-getty@.service systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
    >&2 2>/dev/null || true
  in_root "$new" apt-get clean >&2
  date -u +%FT%TZ >"$new/.ibkr-sessiond-test-root"
  rm -rf "$root"
  mv "$new" "$root"
  log "built $root in $((SECONDS - t0)) s ($(du -sh "$root" | cut -f1))"
}

# The names in a package's Depends (first of each alternative, no versions): what must be in the
# root before `apt install ./PACKAGE.deb` can work without a download.
depends_of() {
  { dpkg-deb -f "$1" Pre-Depends; dpkg-deb -f "$1" Depends; } | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' || true
}

if fresh; then
  log "reusing $root (built $(cat "$stamp"))"
else
  build
fi

missing=()
for deb in "$@"; do
  [[ -f $deb ]] || { log "no such package: $deb"; exit 2; }
  while read -r dep; do
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'install ok installed' || missing+=("$dep")
  done < <(depends_of "$deb")
done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "adding the packages' dependencies to the cached root: ${missing[*]}"
  if ! in_root "$root" sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' sh "${missing[@]}" >&2; then
    log "the packages' dependencies cannot be installed from bookworm: ${missing[*]}"
    exit 1
  fi
fi
echo "$root"
