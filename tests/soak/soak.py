#!/usr/bin/env python3
"""Soak: hours of simulated operation at an accelerated tickle rate with periodic faults.

Runs the real ibkr-sessiond against ibkr-sim, tickling every second (60 times IBKR's cadence), and
injects one fault a minute (503 bursts, expired SSO sessions, dropped brokerage sessions, short
maintenance, competing sessions, hangs, resets). It samples the daemon's resident memory and open
file descriptors throughout and prints the curve's start, middle and end, so that a leak shows as
growth. Not part of CI: run on demand (tests/soak/run.sh) and report the figures.

Usage: soak.py --bin DIR --hours H [--csv FILE]
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def control(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as res:
        return json.loads(res.read())


def post(port, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read() or b"{}")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as res:
        return res.status, res.read()


def sample(pid):
    rss_kib = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib, fds


FAULTS = [
    ("503 x5 on tickle", lambda c: post(c, "/control/fault", {"path": "/v1/api/tickle", "action": "status", "status": 503, "count": 5})),
    ("SSO sessions expired", lambda c: post(c, "/control/expire-sessions")),
    ("brokerage dropped", lambda c: post(c, "/control/drop-brokerage")),
    ("tickle hangs", lambda c: post(c, "/control/fault", {"path": "/v1/api/tickle", "action": "hang"})),
    ("connections reset x3", lambda c: post(c, "/control/fault", {"path": "*", "action": "reset", "count": 3})),
    ("garbage tickle", lambda c: post(c, "/control/fault", {"path": "/v1/api/tickle", "action": "garbage"})),
    ("competing session", lambda c: post(c, "/control/competing", {"on": True})),
    ("maintenance 10 s", None),  # on, then off after 10 s (below)
    ("429 with Retry-After 2 on tickle", lambda c: post(c, "/control/fault", {"path": "/v1/api/tickle", "action": "status", "status": 429, "retry_after": 2})),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory holding ibkr-sessiond and ibkr-sim")
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--sample-every", type=float, default=30.0)
    ap.add_argument("--csv")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"soak: seed {args.seed}, {args.hours} h, tickle every 1 s, one fault a minute", flush=True)

    work = tempfile.mkdtemp(prefix="sessiond-soak-")
    procs = []

    def cleanup(*_):
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGINT, lambda *a: (cleanup(), sys.exit(130)))
    try:
        key = os.path.join(work, "key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        state = os.path.join(work, "state")
        os.mkdir(state, 0o700)
        sim = subprocess.Popen([os.path.join(args.bin, "ibkr-sim"), "--client-public-key", key, "--client-id", "soak",
                                "--credential", "soakuser", "--ca-out", os.path.join(work, "ca.pem"),
                                "--log-level", "warn"],
                               stdout=subprocess.PIPE, stderr=open(os.path.join(work, "sim.log"), "w"), text=True)
        procs.append(sim)
        ready = json.loads(sim.stdout.readline())
        https, ctl = ready["https_port"], ready["control_port"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "IBKR_CLIENT_ID": "soak", "IBKR_CLIENT_KEY_ID": "main", "IBKR_PRIVATE_KEY_FILE": key,
            "IBKR_CREDENTIAL": "soakuser", "IBKR_ACCOUNT_ID": "DU1234567", "IBKR_ALLOWED_IP": "127.0.0.1",
            "IBKR_ENV": "paper", "IBKR_BASE_URL": f"https://127.0.0.1:{https}", "IBKR_CA_FILE": ready["ca_file"],
            "IBKR_TICKLE_INTERVAL": "1", "IBKR_INIT_SETTLE": "0.2", "IBKR_HTTP_TIMEOUT": "3",
            "IBKR_PACE_VALIDATE": "60", "SESSIOND_BACKOFF_INITIAL": "0.5", "SESSIOND_BACKOFF_MAX": "10",
            "SESSIOND_RATE_LIMIT_PENALTY": "5", "SESSIOND_LISTEN": "127.0.0.1:0", "SESSIOND_STATE_DIR": state,
            "IBKR_REGION": "none",
            # A 5 s penalty is looser than IBKR's penalty box: allowed against the simulator only.
            "SESSIOND_SIMULATOR_LIMITS": "true",
        }
        log_path = os.path.join(work, "daemon.log")
        daemon = subprocess.Popen([os.path.join(args.bin, "ibkr-sessiond"), "run"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        procs.append(daemon)
        api = None
        deadline = time.time() + 20
        while api is None and time.time() < deadline:
            with open(log_path) as f:
                for line in f:
                    if "API listening on http://127.0.0.1:" in line:
                        api = int(line.split("127.0.0.1:")[1].split()[0])
            time.sleep(0.1)
        if api is None:
            print("soak: the daemon did not start", file=sys.stderr)
            return 1

        end = time.time() + args.hours * 3600
        next_fault = time.time() + 60
        next_sample = time.time() + 5
        samples = []
        faults = 0
        not_connected = 0
        statuses = 0
        while time.time() < end:
            now = time.time()
            if now >= next_sample:
                rss, fds = sample(daemon.pid)
                code, body = get(api, "/api/ibkr/status")
                state_now = json.loads(body)["state"]
                statuses += 1
                not_connected += state_now != "connected"
                samples.append((now, rss, fds, state_now))
                next_sample += args.sample_every
            if now >= next_fault:
                name, act = FAULTS[rng.randrange(len(FAULTS))]
                if act is None:
                    post(ctl, "/control/maintenance", {"on": True})
                    time.sleep(10)
                    post(ctl, "/control/maintenance", {"on": False})
                else:
                    act(ctl)
                faults += 1
                next_fault += 60
            if daemon.poll() is not None:
                print(f"soak: the daemon exited with {daemon.returncode}", file=sys.stderr)
                return 1
            time.sleep(1)

        st = control(ctl, "/control/state")
        first, mid, last = samples[0], samples[len(samples) // 2], samples[-1]
        peak_rss = max(s[1] for s in samples)
        print(f"soak: {len(samples)} samples over {args.hours} h, {faults} faults, daemon alive")
        for label, s in (("start", first), ("middle", mid), ("end", last)):
            print(f"soak: {label:6} RSS {s[1] / 1024:.2f} MiB, {s[2]} fds")
        print(f"soak: peak RSS {peak_rss / 1024:.2f} MiB; fds min {min(s[2] for s in samples)} max {max(s[2] for s in samples)}")
        print(f"soak: sim saw {st['tokens_issued']} logins, {st['tickles']} tickles; "
              f"{not_connected} of {statuses} status samples not connected (a fault was being recovered)")
        if args.csv:
            with open(args.csv, "w") as f:
                f.write("unix_time,rss_kib,fds,state\n")
                for s in samples:
                    f.write(f"{s[0]:.0f},{s[1]},{s[2]},{s[3]}\n")
            print(f"soak: samples in {args.csv}")
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
