#!/usr/bin/env bash
# The browser tests' npm packages (playwright-core, axe-core; no browser download: they drive
# Debian's chromium, which deploy/install-deps.sh --browser installs), pinned by package-lock.json.
# Used by tests/run.sh and bench/run.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../../deploy/npm-ci.sh" "$here"
