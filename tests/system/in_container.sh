#!/bin/bash
# Runs inside the booted container (systemd as PID 1), started by sessiond-test.service; see
# tests/system/booted_systemd.sh. Issue 15's steps 1-11 against the installed package.
#   /srv/in   (read-only)  ibkr-sessiond.deb, ibkr-sessiond-next.deb (the same, newer: step 8's
#                          upgrade), private-key.pem, api-token, sim-ca.pem, daemon.env,
#                          sim.ports (SIM_HTTPS_PORT, SIM_CONTROL_PORT of ibkr-sim on the host)
#   /srv/out  (writable)   results (one line per step: "N ok|fail name: details"), journals
# Every wait has a bound; nothing waits by sleeping a fixed time: polls of an observable state
# (systemctl show, the journal after a cursor, ibkr-sim's counters) every 0.2 s until a deadline.
set -uo pipefail

in=/srv/in
out=/srv/out
results=$out/results
unit=ibkr-sessiond
watchdog_sec=5 # the test's drop-in (the unit ships 30 s): step 7 waits WatchdogSec, not 30 s
# shellcheck source=/dev/null
source "$in/sim.ports"

: >"$results"
say() { echo "in-container: $*"; }
result() { # result N ok|fail "name" "details"
  printf '%s %s %s: %s\n' "$1" "$2" "$3" "$4" >>"$results"
  say "step $1 $2: $3: $4"
}

# wait_until SECONDS COMMAND...: true once COMMAND succeeds, false when SECONDS pass first.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

prop() { systemctl show -p "$2" --value "$1"; }
status_text() { prop $unit StatusText; }
is_connected() { [[ $(status_text) == connected* ]]; }

# GET PORT PATH: the body of a plain-HTTP answer from 127.0.0.1 (bash's /dev/tcp: no curl in the
# root). The container shares the host's network namespace, so ibkr-sim on the host is 127.0.0.1.
http_get() {
  local reply
  exec 5<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&5
  reply=$(timeout 10 cat <&5)
  exec 5<&-
  printf '%s\n' "${reply#*$'\r\n\r\n'}"
}
# sim_counter NAME: a top-level counter of ibkr-sim's GET /control/state (sim/README.md).
sim_counter() {
  http_get "$SIM_CONTROL_PORT" /control/state | grep -oE "\"$1\":[0-9]+" | head -n1 | cut -d: -f2
}
# The daemon's own status API (SESSIOND_LISTEN=127.0.0.1:0: the port is in the journal).
api_port() {
  since "${1:-}" | sed -nE 's|.*API listening on http://127\.0\.0\.1:([0-9]+).*|\1|p' | tail -n1
}
# The cursor of the unit's newest journal entry, for "logged since" (-u ... --after-cursor=). Taken
# from the unit's own entries, not the whole journal's: journalctl 252 seeks to the cursor and then
# skips two entries that pass the filter, assuming the first is the cursor's own; with a cursor
# that -u does not match, the first new entry of the unit is silently skipped. And -n0 prints no
# cursor at all: -n1, the entry itself hidden. Empty while the unit has logged nothing (then every
# entry of this boot counts).
cursor() { journalctl -u $unit -b -q -n1 --show-cursor --no-pager -o cat | sed -n 's/^-- cursor: //p'; }
since() { journalctl -u $unit -b --no-pager -o cat ${1:+--after-cursor="$1"}; }
logged_since() { since "$1" | grep -qE "$2"; }

# What the root holds before the package: step 11 compares. Runtime and bookkeeping trees are left
# out (the journal, apt's and dpkg's own records, systemd's runtime state).
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /srv \
    -o -path /var/log -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg \
    -o -path /var/lib/systemd/timers -o -path /var/lib/systemd/random-seed -o -path /var/tmp \
    -o -path /root \) -prune -o -print 2>/dev/null | sort
}

say "booted: $(systemctl is-system-running 2>&1), systemd $(systemctl --version | head -n1 | cut -d' ' -f2)"
before_snapshot=$(snapshot)
deb=$in/ibkr-sessiond.deb

# --- 1. apt install the package -----------------------------------------------------------------
# No download: every dependency must already be in the cached root (tests/system/root_cache.sh
# installs the package's Depends there). apt's --no-download refuses the local .deb itself
# ("Pathname to install is not absolute"), so a proxy that refuses connections stands in for it.
if apt-get install -y -q --no-install-recommends -o Acquire::http::Proxy=http://127.0.0.1:9 \
  -o Acquire::https::Proxy=http://127.0.0.1:9 "$deb" >"$out/apt-install.log" 2>&1; then
  files=$(dpkg -L ibkr-sessiond | sort)
  printf '%s\n' "$files" >"$out/dpkg-L.txt"
  missing=()
  for f in /usr/bin/ibkr-sessiond /lib/systemd/system/ibkr-sessiond.service /etc/ibkr-sessiond/ibkr-sessiond.env; do
    [[ -e $f ]] || missing+=("$f")
  done
  conffile=$(dpkg-query -W -f='${Conffiles}' ibkr-sessiond | grep -c ' /etc/ibkr-sessiond/ibkr-sessiond.env ')
  after="enabled=$(systemctl is-enabled $unit 2>&1) active=$(systemctl is-active $unit 2>&1) status=\"$(status_text)\""
  if ((${#missing[@]})); then
    result 1 fail "apt install" "installed, but missing: ${missing[*]}; $after"
    exit 0
  elif ((conffile != 1)); then
    result 1 fail "apt install" "/etc/ibkr-sessiond/ibkr-sessiond.env is not a conffile; $after"
  elif [[ $(systemctl is-enabled $unit) != enabled || $(systemctl is-active $unit) != inactive ]]; then
    result 1 fail "apt install" "the package must leave the service enabled and not started (README); $after"
  else
    # Started before the operator added the key (the README says it stays up and says why): the
    # unit's SetCredential= fallbacks stand in for the missing files, the daemon runs unconfigured.
    systemctl start $unit 2>"$out/start-unconfigured.err"
    unconfigured() { [[ $(systemctl is-active $unit) == active && $(status_text) == *"not configured"* ]]; }
    if wait_until 15 unconfigured; then
      result 1 ok "apt install" "$(grep -m1 -oE '(Need to get|[0-9]+ upgraded).*' "$out/apt-install.log"); $(wc -l <<<"$files") paths; $after; started without a key: active, \"$(status_text)\""
    else
      result 1 fail "apt install" "started without a key: $(systemctl is-active $unit), \"$(status_text)\" (not \"not configured\" within 15 s); $(tr '\n' ' ' <"$out/start-unconfigured.err")"
    fi
  fi
else
  result 1 fail "apt install" "apt-get failed: $(tail -n3 "$out/apt-install.log" | tr '\n' ' ')"
  exit 0
fi

# --- 2. the credentials and the settings ----------------------------------------------------------
# As the README says an operator does: the key and the API token as root-only files that the unit's
# LoadCredential= names, the settings (no secret) in the conffile. The CA of ibkr-sim must be
# readable by the dynamic user, like the settings file.
install -d -m 0755 /etc/ibkr-sessiond
install -m 0600 "$in/private-key.pem" /etc/ibkr-sessiond/private-key.pem
install -m 0600 "$in/api-token" /etc/ibkr-sessiond/api-token
install -m 0644 "$in/sim-ca.pem" /etc/ibkr-sessiond/sim-ca.pem
install -m 0644 "$in/daemon.env" /etc/ibkr-sessiond/ibkr-sessiond.env
# The test's only change to the unit (step 7 would otherwise wait 30 s); removed before step 10.
mkdir -p /etc/systemd/system/$unit.service.d
printf '[Service]\nWatchdogSec=%ss\n' "$watchdog_sec" >/etc/systemd/system/$unit.service.d/test-watchdog.conf
systemctl daemon-reload
# (systemctl show prints LoadCredential= as "[unprintable]" in systemd 252: the unit as loaded.)
creds=$(systemctl cat $unit | grep -E '^LoadCredential=' | tr '\n' ' ')
# The check the README and the post-install message give, as they give it.
check_rc=0
IBKR_PRIVATE_KEY_FILE=/etc/ibkr-sessiond/private-key.pem ibkr-sessiond check-config \
  --env-file /etc/ibkr-sessiond/ibkr-sessiond.env >"$out/check-config.txt" 2>&1 || check_rc=$?
if ((check_rc != 0)); then
  result 2 fail "credentials" "the README's check-config exits $check_rc: $(tr '\n' ' ' <"$out/check-config.txt")"
elif [[ $creds == *ibkr-private-key:/etc/ibkr-sessiond/private-key.pem* && $creds == *sessiond-api-token:/etc/ibkr-sessiond/api-token* ]] &&
  systemctl cat $unit | grep -qx "WatchdogSec=${watchdog_sec}s"; then
  result 2 ok "credentials" "key and API token in /etc/ibkr-sessiond (0600), settings pointing at ibkr-sim on 127.0.0.1:$SIM_HTTPS_PORT; the README's check-config: exit 0; drop-in WatchdogSec=${watchdog_sec}s"
else
  result 2 fail "credentials" "the unit's LoadCredential= lines: \"$creds\"; drop-in: $(systemctl show -p DropInPaths --value $unit)"
fi

# --- 3. systemctl start -------------------------------------------------------------------------
logins0=$(sim_counter sso_sessions_created)
c3=$(cursor)
# Credentials are copied at each start: a unit already running unconfigured needs a restart.
verb=start
[[ $(systemctl is-active $unit) == active ]] && verb=restart
systemctl enable -q $unit 2>/dev/null
if timeout 60 systemctl $verb $unit && [[ $(systemctl is-active $unit) == active ]]; then
  result 3 ok "systemctl $verb" "active, MainPID $(prop $unit MainPID), status \"$(status_text)\""
else
  result 3 fail "systemctl $verb" "$(systemctl is-active $unit); $(journalctl -u $unit -b --no-pager -o cat -n5 | tr '\n' ' ')"
fi

# Steps 4-9 need the running daemon; without it they fail at once, saying so (10 and 11 still run).
running() {
  [[ $(systemctl is-active $unit) == active && $(prop $unit MainPID) != 0 ]] && return 0
  result "$1" fail "$2" "the service is not running: $(systemctl is-active $unit), \"$(status_text)\""
  return 1
}

# --- 4. StatusText says connected -----------------------------------------------------------------
t=$SECONDS
if ! running 4 "StatusText connected"; then
  :
elif wait_until 30 is_connected; then
  result 4 ok "StatusText connected" "\"$(status_text)\" after $((SECONDS - t)) s; ibkr-sim logins $logins0 -> $(sim_counter sso_sessions_created)"
else
  result 4 fail "StatusText connected" "still \"$(status_text)\" after 30 s"
fi
port=$(api_port "$c3")

# --- 5. structured journal fields -----------------------------------------------------------------
journalctl -u $unit -b -o json --no-pager >"$out/journal-ibkr-sessiond.json"
missing=()
for field in IBKR_SESSION IBKR_STATE IBKR_STEP IBKR_HTTP_STATUS PRIORITY; do
  grep -q "\"$field\":" "$out/journal-ibkr-sessiond.json" || missing+=("$field")
done
grep -q '"SYSLOG_IDENTIFIER":"ibkr-sessiond"' "$out/journal-ibkr-sessiond.json" || missing+=("SYSLOG_IDENTIFIER=ibkr-sessiond")
connected_entries=$(journalctl -u $unit -b -o cat --no-pager IBKR_STATE=connected | wc -l)
if ((${#missing[@]} == 0 && connected_entries > 0)); then
  result 5 ok "journal fields" "IBKR_SESSION, IBKR_STATE, IBKR_STEP, IBKR_HTTP_STATUS, PRIORITY, SYSLOG_IDENTIFIER present; $connected_entries entries match IBKR_STATE=connected"
else
  result 5 fail "journal fields" "missing: ${missing[*]:-none}; entries with IBKR_STATE=connected: $connected_entries"
fi

# --- 6. systemctl reload keeps the session ------------------------------------------------------
pid=$(prop $unit MainPID)
logins=$(sim_counter sso_sessions_created)
c6=$(cursor)
if ! running 6 "reload keeps the session"; then
  :
elif ! timeout 20 systemctl reload $unit 2>"$out/reload.err"; then
  result 6 fail "reload keeps the session" "systemctl reload failed: $(since "$c6" | grep -iE 'fail|error' | tr '\n' ' ')"
elif wait_until 15 logged_since "$c6" '^reloaded' && wait_until 15 is_connected; then
  after=$(sim_counter sso_sessions_created)
  line=$(since "$c6" | grep -m1 '^reloaded')
  if [[ $after =~ ^[0-9]+$ && $after == "$logins" && $(prop $unit MainPID) == "$pid" ]]; then
    result 6 ok "reload keeps the session" "\"$line\"; same MainPID $pid, ibkr-sim logins still $after"
  else
    result 6 fail "reload keeps the session" "ibkr-sim logins $logins -> $after, MainPID $pid -> $(prop $unit MainPID)"
  fi
else
  result 6 fail "reload keeps the session" "no \"reloaded\" line or not connected within 15 s: \"$(status_text)\""
fi

# --- 7. SIGSTOP past WatchdogSec: killed, restarted, logs in within the budget ------------------
pid=$(prop $unit MainPID)
restarts=$(prop $unit NRestarts)
logins=$(sim_counter sso_sessions_created)
c7=$(cursor)
restarted() { (($(prop $unit NRestarts) > restarts)); }
new_and_connected() { local p; p=$(prop $unit MainPID); [[ $p != 0 && $p != "$pid" ]] && is_connected; }
t=$SECONDS
# WatchdogSec, then the abort signal (TimeoutAbortSec = TimeoutStopSec, 10 s, if it does not die),
# then RestartSec=5s.
if ! running 7 "watchdog restart"; then
  :
elif kill -STOP "$pid" && wait_until $((watchdog_sec + 10 + 5 + 10)) restarted; then
  stopped=$((SECONDS - t))
  t=$SECONDS
  if wait_until 45 new_and_connected; then
    after=$(sim_counter sso_sessions_created)
    why=$(since "$c7" | grep -m1 -iE 'watchdog timeout' || true)
    port=$(api_port "$c7")
    budget=$(http_get "$port" /api/ibkr/status | grep -oE '"login_budget":\{[^}]*\}' | head -n1)
    details="restarted ${stopped} s after SIGSTOP (\"$why\", then RestartSec), NRestarts $(prop $unit NRestarts), new MainPID $(prop $unit MainPID) connected after $((SECONDS - t)) s; ibkr-sim logins $logins -> $after; $budget"
    # One login for the restart, none more; the pacing record (StateDirectory=) survived the restart:
    # the budget counts both logins of this hour.
    if [[ -n $why && $after == $((logins + 1)) && $budget == *'"persisted":true'* && $budget == *'"logins_last_hour":2'* ]]; then
      result 7 ok "watchdog restart" "$details"
    else
      result 7 fail "watchdog restart" "$details"
    fi
  else
    result 7 fail "watchdog restart" "restarted, but not connected with a new MainPID within 45 s: \"$(status_text)\""
  fi
else
  kill -CONT "$pid" 2>/dev/null
  result 7 fail "watchdog restart" "NRestarts still $restarts $((SECONDS - t)) s after SIGSTOP; $(systemctl is-active $unit)"
fi

# --- 8. upgrade: restarted once, the settings and the pacing record kept --------------------------
# A newer version of the same package (booted_systemd.sh repacks it: the same files), installed the
# way step 1 installs. The old prerm leaves the daemon running on "upgrade"; the new postinst's
# try-restart (dh_installsystemd --restart-after-upgrade) restarts it once the new files are in:
# one logout, one login, no storm. The operator changed the conffile (step 2), the package did not:
# dpkg keeps it without asking, and no --force-conf* option decides that here (a prompt would read
# stdin, /dev/null, and fail, not hang). The pacing record in StateDirectory= survives, so the new
# process counts this hour's logins of steps 3 and 7 and its own: 3.
next=$in/ibkr-sessiond-next.deb
conf=/etc/ibkr-sessiond/ibkr-sessiond.env
new_version=$(dpkg-deb -f "$next" Version)
old_version=$(dpkg-query -W -f='${Version}' ibkr-sessiond)
conf_sum=$(sha256sum <"$conf")
pid=$(prop $unit MainPID)
logins=$(sim_counter sso_sessions_created)
logouts=$(sim_counter logouts)
c8=$(cursor)
# What ran the restart: dpkg runs a --post-invoke hook after each of apt's dpkg calls (the unpack,
# then the configure), which records the daemon's MainPID then. The old MainPID after the unpack:
# the old prerm did not stop it, the new postinst restarted it.
hook_log=$out/upgrade-hooks.txt
: >"$hook_log"
upgraded() { [[ $(dpkg-query -W -f='${Status} ${Version}' ibkr-sessiond 2>/dev/null) == "install ok installed $new_version" ]]; }
t=$SECONDS
if ! running 8 "upgrade"; then
  :
elif ! DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -q --no-install-recommends \
  -o Acquire::http::Proxy=http://127.0.0.1:9 -o Acquire::https::Proxy=http://127.0.0.1:9 \
  -o DPkg::Options::="--post-invoke=echo \"\$DPKG_HOOK_ACTION MainPID=\$(systemctl show -p MainPID --value $unit)\" >>$hook_log" \
  "$next" </dev/null >"$out/apt-upgrade.log" 2>&1; then
  result 8 fail "upgrade" "apt-get failed: $(tail -n3 "$out/apt-upgrade.log" | tr '\n' ' ')"
elif ! wait_until 10 upgraded; then
  result 8 fail "upgrade" "dpkg: \"$(dpkg-query -W -f='${Status} ${Version}' ibkr-sessiond 2>&1)\", not $new_version installed"
else
  apt_s=$((SECONDS - t))
  # new_and_connected (step 7): a MainPID other than $pid, and connected. Not at once: the new
  # process reads the pacing record and waits for the login budget, which after a restart counts the
  # newest login as up to an HTTP timeout (10 s) late, plus the 10 s between logins: about 20 s
  # after step 7's login.
  if wait_until 45 new_and_connected; then connected="connected $((SECONDS - t)) s after apt-get began"; else connected="not connected after 45 s: \"$(status_text)\""; fi
  throttled=$(since "$c8" | grep -m1 '^throttled' || true)
  after_logins=$(sim_counter sso_sessions_created)
  after_logouts=$(sim_counter logouts)
  new_pid=$(prop $unit MainPID)
  conf_now=$(sha256sum <"$conf")
  conf_beside=$(ls -d "$conf".dpkg-* "$conf".ucf-* 2>/dev/null | tr '\n' ' ')
  # The old process's own lines: only its logout on stop is new since step 7 started it.
  logout_line=$(journalctl -b --no-pager -o cat _PID="$pid" | grep -m1 -iE 'logout|logged out' || true)
  starts=$(since "$c8" | grep -c '^Started ibkr-sessiond\.service' || true)
  unpacked_pid=$(sed -nE 's/^unpack MainPID=//p' "$hook_log" | head -n1)
  port=$(api_port "$c8")
  budget=$(http_get "$port" /api/ibkr/status | grep -oE '"login_budget":\{[^}]*\}' | head -n1)
  files_now=$(dpkg -L ibkr-sessiond | sort)
  details="$old_version -> $new_version in $apt_s s ($(grep -m1 -oE '[0-9]+ upgraded.*' "$out/apt-upgrade.log")); MainPID $pid -> $new_pid (still $unpacked_pid after the unpack), $starts start, ${throttled:+\"$throttled\", }$connected; ibkr-sim logins $logins -> $after_logins, logouts $logouts -> $after_logouts; old process: \"$logout_line\"; conffile sha256 $([[ $conf_now == "$conf_sum" ]] && echo unchanged || echo CHANGED)${conf_beside:+, beside it: $conf_beside}; $budget"
  if [[ $connected == connected* && $new_pid != "$pid" && $unpacked_pid == "$pid" && $starts == 1 &&
    $after_logins == $((logins + 1)) && $after_logouts == $((logouts + 1)) && -n $logout_line &&
    $conf_now == "$conf_sum" && -z $conf_beside && $files_now == "$files" &&
    $budget == *'"persisted":true'* && $budget == *'"logins_last_hour":3'* ]]; then
    result 8 ok "upgrade" "$details"
  else
    [[ $files_now == "$files" ]] || details="$details; dpkg -L differs from step 1's: $(diff <(printf '%s\n' "$files") <(printf '%s\n' "$files_now") | grep '^[<>]' | tr '\n' ' ')"
    result 8 fail "upgrade" "$details"
  fi
  # Step 11 checks that purge leaves none of the installed version's paths.
  files=$files_now
fi

# --- 9. systemctl stop logs out -------------------------------------------------------------------
logouts=$(sim_counter logouts)
c9=$(cursor)
if ! running 9 "stop logs out"; then
  :
elif timeout 30 systemctl stop $unit; then
  after=$(sim_counter logouts)
  res="Result=$(prop $unit Result) ExecMainStatus=$(prop $unit ExecMainStatus)"
  if [[ $after == $((logouts + 1)) && $(systemctl is-active $unit) == inactive && $res == "Result=success ExecMainStatus=0" ]]; then
    result 9 ok "stop logs out" "ibkr-sim logouts $logouts -> $after; $res; \"$(since "$c9" | grep -m1 -i 'logout\|logged out')\""
  else
    result 9 fail "stop logs out" "ibkr-sim logouts $logouts -> $after; $(systemctl is-active $unit); $res"
  fi
else
  result 9 fail "stop logs out" "systemctl stop failed or took more than 30 s"
fi

# --- 10. systemd-analyze security on the unit as shipped -----------------------------------------
rm -rf /etc/systemd/system/$unit.service.d
systemctl daemon-reload
systemd-analyze security --no-pager $unit >"$out/security.txt" 2>&1
score=$(sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+\.[0-9]+).*/\1/p' "$out/security.txt")
if [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
  result 10 ok "systemd-analyze security" "$(grep 'Overall exposure' "$out/security.txt" | sed 's/^→ //')"
else
  result 10 fail "systemd-analyze security" "${score:-no score}: $(tail -n1 "$out/security.txt")"
fi

# --- 11. apt remove, then purge: nothing left ---------------------------------------------------
journalctl -u $unit -b --no-pager -o short-precise >"$out/journal-ibkr-sessiond.txt"
state_dir=$(ls -d /var/lib/private/ibkr-sessiond /var/lib/ibkr-sessiond 2>/dev/null | tr '\n' ' ')
apt-get remove -y -q ibkr-sessiond >"$out/apt-remove.log" 2>&1
rc_remove=$?
kept_after_remove=$(ls -d /etc/ibkr-sessiond/ibkr-sessiond.env /var/lib/private/ibkr-sessiond 2>/dev/null | tr '\n' ' ')
bin_after_remove=$(ls /usr/bin/ibkr-sessiond /lib/systemd/system/ibkr-sessiond.service 2>/dev/null | tr '\n' ' ')
apt-get purge -y -q ibkr-sessiond >"$out/apt-purge.log" 2>&1
rc_purge=$?
systemctl daemon-reload
left=()
while read -r f; do # the package's own paths that no other package owns
  [[ -n $f && $f != /. && -e $f ]] && ! dpkg -S "$f" >/dev/null 2>&1 && left+=("$f")
done <<<"$files"
for f in /etc/ibkr-sessiond /var/lib/private/ibkr-sessiond /var/lib/ibkr-sessiond; do
  [[ -e $f || -L $f ]] && left+=("$f")
done
new_paths=$(comm -13 <(printf '%s\n' "$before_snapshot") <(snapshot))
printf '%s\n' "$new_paths" >"$out/left-after-purge.txt"
mapfile -t extra < <(printf '%s\n' "$new_paths" | grep -v '^$')
details="remove rc $rc_remove (kept: ${kept_after_remove:-nothing}; binary/unit left: ${bin_after_remove:-none}); purge rc $rc_purge; state dir before: ${state_dir:-none}; dpkg status: $(dpkg-query -W -f='${Status}' ibkr-sessiond 2>&1 | head -n1)"
# remove keeps the settings and the pacing record (the state directory: a reinstall must not log
# in more often than IBKR allows); purge removes them.
remove_kept=1
[[ $kept_after_remove == *ibkr-sessiond.env* ]] || remove_kept=0
[[ -z $state_dir || $kept_after_remove == */var/lib/private/ibkr-sessiond* ]] || remove_kept=0
((remove_kept)) || details="$details; remove did not keep the settings and the state"
if ((rc_remove == 0 && rc_purge == 0 && remove_kept && ${#left[@]} == 0 && ${#extra[@]} == 0)) && [[ -z $bin_after_remove ]]; then
  result 11 ok "remove and purge" "$details; nothing left behind"
else
  mapfile -t left < <(printf '%s\n' "${left[@]}" "${extra[@]}" | grep -v '^$' | sort -u)
  result 11 fail "remove and purge" "$details; left behind: ${left[*]:-none}"
fi

journalctl -b --no-pager -o short-precise >"$out/journal-boot.txt"
say "done"
