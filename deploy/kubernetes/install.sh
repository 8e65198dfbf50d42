#!/usr/bin/env bash
# The manifests' validator's npm packages (@kubernetes/client-node for the Kubernetes OpenAPI
# definitions, ajv, yaml), pinned by package-lock.json. Nothing of @kubernetes/client-node but its
# model files is loaded. Then: node deploy/kubernetes/validate.mjs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../npm-ci.sh" "$here"
