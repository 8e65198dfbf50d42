#!/usr/bin/env bash
# Fails when the library's folders (include/sessiond/<part>, src/<part>) depend on each other in a
# cycle, directly (config <-> ibkr) or through others (config -> ibkr -> net -> config): each part
# must be readable, and testable, on top of the parts below it. A dependency is an
# `#include "sessiond/<part>/..."`. On success, prints each folder's dependencies.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

edges=$(grep -rHoE '^#include "sessiond/[a-z_]+/' include/sessiond src |
        sed -E 's#^(include/sessiond|src)/([a-z_]+)/[^:]*:\#include "sessiond/([a-z_]+)/$#\2 \3#' |
        awk '$1 != $2' | sort -u)

if ! loop=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null); then
    echo "folder_dependencies: the folders depend on each other in a cycle:" >&2
    echo "$loop" >&2
    exit 1
fi
printf '%s\n' "$edges" | awk '{deps[$1] = deps[$1] " " $2} END {for (f in deps) print f " ->" deps[f]}' | sort
