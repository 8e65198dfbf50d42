#!/usr/bin/env bash
# `npm ci` of one folder's pinned npm packages (its package-lock.json), again only when the lock
# changed since the last install (a stamp in node_modules holds the lock's hash). No install
# scripts run. Used by tests/browser/install.sh and deploy/kubernetes/install.sh.
#   bash deploy/npm-ci.sh DIR
set -euo pipefail
dir=${1:?usage: deploy/npm-ci.sh DIR (a folder with package.json and package-lock.json)}
[[ -f $dir/package-lock.json ]] || { echo "npm-ci.sh: no package-lock.json in $dir" >&2; exit 64; }
cd "$dir"
stamp=node_modules/.package-lock.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $lock_hash != "$(cat "$stamp")" ]]; then
  echo "== npm ci ($dir)" >&2
  npm ci --ignore-scripts --no-audit --no-fund
  echo "$lock_hash" >"$stamp"
fi
