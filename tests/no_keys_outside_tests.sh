#!/usr/bin/env bash
# Fails when a file outside tests/ holds key-shaped text: a PEM private-key BEGIN line, or base64
# that starts like a DER private key (PKCS#1 MII..AIBAAK, PKCS#8 MII..IBADAN; public keys and
# certificates, which the parsers' seeds hold, are not secrets). Test keys are generated at build or run time
# (tests/support, fuzz/run.sh); none is committed, not even a damaged fragment of one.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
# The tracked files; outside a git checkout, every file but the build trees.
files=$(git ls-files 2>/dev/null || find . -path ./build -prune -o -path ./.git -prune -o -type f -printf '%P\n')
files=$(grep -v '^tests/' <<<"$files")
pem='-----BEGIN[A-Z ]* PRIVATE KEY'
der='MII[A-Za-z0-9+/]{2,3}(AIBAAK|IBADAN)'
mapfile -t list <<<"$files"
# grep: 0 found, 1 none found, 2 it failed (which must not pass for "none").
status=0
found=$(grep -lIP -e "($pem)|($der)" -- "${list[@]}") || status=$?
if ((status == 0)); then
    echo "no_keys_outside_tests: key-shaped text in:" >&2
    echo "$found" >&2
    exit 1
fi
if ((status != 1)); then
    echo "no_keys_outside_tests: grep failed (exit $status)" >&2
    exit 1
fi
