#!/usr/bin/env bash
# The soak, on demand (not in CI): builds a release binary and runs tests/soak/soak.py against it.
#   bash tests/soak/run.sh [HOURS]      default 2
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
bash deploy/build.sh release
# A copy, so that a rebuild during the soak does not replace the binaries under it.
bin=$(mktemp -d /tmp/sessiond-soak-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
cp build/release/daemon/ibkr-sessiond build/release/daemon/ibkr-sim "$bin/"
python3 tests/soak/soak.py --bin "$bin" --hours "${1:-2}" --csv "${SOAK_CSV:-/tmp/sessiond-soak.csv}"
