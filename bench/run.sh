#!/usr/bin/env bash
# The benchmarks, in one command: installs what is missing (Debian packages only), builds the release
# binaries, and measures every figure side by side with its reference in the same run, then prints
# one table. Numbers, not a test: nothing here passes or fails, and CI does not run it.
#   --quick   short points and fewer starts (a smoke run, ~2 minutes)
#   --long    the idle figures over the full ten minutes (default: 120 s)
#   --only 1,3   some figures only (11: the web UI in headless Chromium);  --out FILE   also write the table there;  --keep   keep the logs
# See bench/README.md for what each figure is and how it is measured.
set -euo pipefail
cd "$(dirname "$0")/.."

# Figure 11 (the web UI in headless Chromium) is in the default list; with --only, only when named.
only=
prev=
for arg in "$@"; do
  [[ $prev == --only ]] && only=$arg
  [[ $arg == --only=* ]] && only=${arg#--only=}
  prev=$arg
done
page=
if [[ -z $only ]] || [[ ,${only// /}, == *,11,* ]]; then page=--browser; fi

# The build's dependencies and the benchmark's own tools, only what is missing (--browser: Debian's
# chromium, and node/npm when no node is on the PATH).
bash deploy/install-deps.sh wrk nginx-light python3-jwt python3-cryptography python3-websocket linux-perf strace binutils systemd postgresql-15 $page

# Figure 11 drives Chromium with tests/browser's pinned npm packages (tests/browser/install.sh).
if [[ -n $page ]]; then bash tests/browser/install.sh; fi

# The release build, niced (the machine may be shared); its output only when it fails.
build_log=$(mktemp /tmp/ibkr-sessiond-bench-build.XXXXXX)
if ! JOBS=${JOBS:-1} nice -n 10 bash deploy/build.sh release >"$build_log" 2>&1; then
  cat "$build_log" >&2
  rm -f "$build_log"
  exit 1
fi
rm -f "$build_log"

# Debian's python3, where python3-jwt lives (not whichever python3 comes first on PATH). The driver
# stops every process it started, also on Ctrl-C.
exec /usr/bin/python3 bench/bench.py "$@"
