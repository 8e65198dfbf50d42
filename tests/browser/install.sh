#!/usr/bin/env bash
# The browser tests' npm packages (playwright-core, axe-core; no browser download: they drive
# Debian's chromium, which deploy/install-deps.sh --browser installs), pinned by package-lock.json:
# `npm ci` again only when the lock changed. Used by tests/run.sh and bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package-lock.sha256
if [[ ! -f $stamp ]] || [[ $(sha256sum package-lock.json | cut -d' ' -f1) != $(cat "$stamp") ]]; then
  echo "== npm ci (tests/browser)" >&2
  npm ci --ignore-scripts --no-audit --no-fund
  sha256sum package-lock.json | cut -d' ' -f1 >"$stamp"
fi
