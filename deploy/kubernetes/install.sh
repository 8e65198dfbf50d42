#!/usr/bin/env bash
# The manifests' validator's npm packages (@kubernetes/client-node for the Kubernetes OpenAPI
# definitions, ajv, yaml), pinned by package-lock.json: `npm ci` again only when the lock changed.
# No install scripts run; nothing of @kubernetes/client-node but its model files is loaded.
# Then: node deploy/kubernetes/validate.mjs
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package-lock.sha256
if [[ ! -f $stamp ]] || [[ $(sha256sum package-lock.json | cut -d' ' -f1) != $(cat "$stamp") ]]; then
  echo "== npm ci (deploy/kubernetes)" >&2
  npm ci --ignore-scripts --no-audit --no-fund
  sha256sum package-lock.json | cut -d' ' -f1 >"$stamp"
fi
