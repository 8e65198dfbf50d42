#!/usr/bin/env bash
# Installs what ibkr-sessiond needs to build and test, from Debian 12's archive only, and only what
# is missing. Safe to run again. Extra package names as arguments are installed the same way (the
# fuzzers' clang, the benchmarks' tools).
#   --browser   also what the browser tests (tests/browser) need: Debian's chromium, and Node.js with
#               npm when no `node` is on the PATH (Debian 12's nodejs is 18: the pinned playwright-core
#               1.61 still supports it; a newer node already installed is kept). The npm packages
#               themselves come from tests/browser/package-lock.json (`npm ci`, tests/run.sh).
set -euo pipefail

extra=()
for arg in "$@"; do
  if [[ $arg == --browser ]]; then
    extra+=(chromium fonts-liberation)
    command -v node >/dev/null 2>&1 || extra+=(nodejs npm)
  else
    extra+=("$arg")
  fi
done

packages=(
  g++ cmake ninja-build make pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev openssl ca-certificates
  libspdlog-dev libfmt-dev
  libsystemd-dev systemd
  libsqlite3-dev libpq-dev
  libgtest-dev
  python3 procps tzdata valgrind
  # the tests' independent reading of the vault's formats (tests/vault/decrypt_record.py)
  python3-cryptography
  "${extra[@]}"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
