#!/usr/bin/python3
"""ibkr-sessiond benchmarks: each figure measured side by side with its reference, in one run.

Run through bench/run.sh, which installs the tools and builds the release binaries first. Python's
standard library only (the reference login script also uses python3-jwt). Everything runs on
loopback, in a temporary directory, with a throw-away key; every child process is stopped at exit.

CPU pinning (2 cores): what is measured runs on the first CPU (the daemon, nginx, the process whose
start is timed); everything else on the second (wrk, ibkr-sim, this driver, perf). See README.md.
"""

import argparse
import contextlib
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SESSIOND_BENCH_BIN: another build's binaries (a smoke run of the driver itself; figures from the
# release build only).
BIN = os.environ.get("SESSIOND_BENCH_BIN") or os.path.join(ROOT, "build", "release", "daemon")
DAEMON = os.path.join(BIN, "ibkr-sessiond")
SIM = os.path.join(BIN, "ibkr-sim")
PYTHON = "/usr/bin/python3"  # Debian's, where python3-jwt is installed
REFERENCE_SCRIPT = os.path.join(ROOT, "bench", "reference_login.py")
NGINX_TEMPLATE = os.path.join(ROOT, "bench", "nginx.conf.in")
NGINX_PROXY_TEMPLATE = os.path.join(ROOT, "bench", "nginx-proxy.conf.in")
ACCOUNT = "DU1234567"


class BenchError(Exception):
    pass


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def note(text):
    print(f"   {text}", flush=True)


# ---------------------------------------------------------------------------------------------
# Processes: every child is remembered and stopped at exit.

CHILDREN = []


class Cpus:
    def __init__(self):
        cpus = sorted(os.sched_getaffinity(0))
        self.pinned = len(cpus) >= 2
        self.sut = cpus[0]  # the server or process under test
        self.load = cpus[1] if self.pinned else cpus[0]  # load generator, simulator, driver
        self.driver = {self.load} if self.pinned else set(cpus)

    def describe(self):
        if not self.pinned:
            return "one CPU: nothing pinned"
        return (f"CPU {self.sut}: the daemon / nginx / the process being timed; "
                f"CPU {self.load}: wrk, ibkr-sim, this driver, perf")


CPUS = Cpus()
ALL_CPUS = set(os.sched_getaffinity(0))  # before the driver pins itself (figure 11 pins its own children)


BOOST = {"nice": 0}  # --boost: what is measured runs at nice -10 (it then takes CPU from others)


@contextlib.contextmanager
def on_cpu(cpu):
    """Children spawned inside inherit this affinity and niceness (Linux: both are per thread), so no
    taskset or nice exec adds to a timed start."""
    nice = BOOST["nice"]
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    if cpu is not None and CPUS.pinned:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        if cpu is not None and CPUS.pinned:
            os.sched_setaffinity(0, CPUS.driver)
        if nice:
            os.setpriority(os.PRIO_PROCESS, 0, 0)


def spawn(argv, cpu=None, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    with on_cpu(cpu):
        p = subprocess.Popen(argv, **kw)
    CHILDREN.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10.0):
    if p is None or p.poll() is not None:
        return p.returncode if p is not None else None
    try:
        p.send_signal(sig)
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def stop_all_children():
    for p in reversed(CHILDREN):
        if p.poll() is None:
            with contextlib.suppress(Exception):
                stop(p, signal.SIGTERM, 5)


class LineLog:
    """Reads a pipe line by line on a thread, stamping each line as it arrives."""

    def __init__(self, stream, copy_to=None):
        self.lines = []  # (monotonic ns, wall ns, text)
        self.cond = threading.Condition()
        self.closed = False
        self._copy = copy_to
        self._stream = stream
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        for raw in iter(self._stream.readline, b""):
            mono, wall = time.monotonic_ns(), time.time_ns()
            text = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append((mono, wall, text))
                self.cond.notify_all()
            if self._copy:
                self._copy.write(text + "\n")
                self._copy.flush()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def find(self, pattern, since=0):
        rx = re.compile(pattern)
        with self.cond:
            for i in range(since, len(self.lines)):
                m = rx.search(self.lines[i][2])
                if m:
                    return i, self.lines[i], m
        return None

    def wait_for(self, pattern, since=0, timeout=30.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i][2])
                    if m:
                        return i, self.lines[i], m
                    i += 1
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise BenchError(f"no line matching {pattern!r} within {timeout} s")
                self.cond.wait(left)

    def tail(self, n=15):
        with self.cond:
            return "\n".join(t for _, _, t in self.lines[-n:])


def read_line_with_timeout(stream, timeout):
    import select
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return None
    return stream.readline().decode(errors="replace").strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, headers=None, method="GET", timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------------------------------------
# The simulator, the daemon, nginx, wrk.

class Sim:
    def __init__(self, bench, name="sim", ca_file=None, extra_args=(), users_file=None):
        self.bench = bench
        self.ca_file = ca_file or bench.ca_file
        self.log_file = open(os.path.join(bench.work, f"{name}.log"), "w")
        who = ["--users", users_file] if users_file else ["--env-file", bench.env_file]
        self.proc = spawn([SIM, *who, "--ca-out", self.ca_file,
                           # Benchmarks log in many times in a row (twenty daemons and twenty scripts
                           # back to back, retry loops at 30 a second): lift IBKR's pacing and its
                           # global request limit in the simulator; each daemon still paces its own calls.
                           "--validate-min-interval", "0", "--tickle-min-interval", "0",
                           "--max-requests-per-second", "0", *extra_args],
                          cpu=CPUS.load, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = read_line_with_timeout(self.proc.stdout, 20)
        if not line:
            raise BenchError("ibkr-sim did not start")
        ready = json.loads(line)
        self.https_port = ready["https_port"]
        self.control_port = ready["control_port"]
        self.log = LineLog(self.proc.stderr, self.log_file)

    def control(self, path, body=None, method=None, timeout=10.0):
        data = json.dumps(body).encode() if body is not None else None
        if method is None:
            method = "POST" if data is not None else "GET"
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return json.loads(res.read() or b"null")

    def fault(self, spec):
        return self.control("/control/fault", spec)

    def clear_faults(self):
        return self.control("/control/clear-faults", method="POST")

    def maintenance(self, on):
        return self.control("/control/maintenance", {"on": on})

    def count(self, key):
        return self.control("/control/state").get("statuses", {}).get(key, 0)


class Daemon:
    def __init__(self, bench, extra_env=None, log_level="info", name="daemon", cpu=None):
        env = bench.daemon_env(extra_env)
        self.log_file = open(os.path.join(bench.work, f"{name}.log"), "w")
        self.proc = spawn([DAEMON, "run", "--env-file", bench.env_file, "--log-level", log_level],
                          cpu=CPUS.sut if cpu is None else cpu, env=env, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.log = LineLog(self.proc.stderr, self.log_file)
        _, _, m = self.log.wait_for(r"API listening on http://127\.0\.0\.1:(\d+)", timeout=20)
        self.port = int(m.group(1))

    def get(self, path, **kw):
        return http_get(self.port, path, **kw)

    def status(self):
        code, body = self.get("/api/ibkr/status")
        return json.loads(body)

    def wait_state(self, state, timeout=30.0, poll=0.02):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status()
            if s.get("state") == state:
                return s
            time.sleep(poll)
        raise BenchError(f"the daemon did not reach state {state} within {timeout} s:\n{self.log.tail()}")

    def stop(self):
        return stop(self.proc)


class Nginx:
    def __init__(self, bench, livez_body, status_body):
        self.dir = os.path.join(bench.work, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()

        def literal(body):
            # Same size; nothing nginx would interpret in a single-quoted string ($variables, \, ').
            return re.sub(r"[$\\']", "_", body.decode())

        with open(NGINX_TEMPLATE) as f:
            conf = f.read()
        conf = (conf.replace("@DIR@", self.dir).replace("@PORT@", str(self.port))
                .replace("@LIVEZ_BODY@", literal(livez_body)).replace("@STATUS_BODY@", literal(status_body)))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = spawn(["nginx", "-p", self.dir + "/", "-c", path, "-e", os.path.join(self.dir, "nginx-error.log"),
                           "-g", "daemon off;"], cpu=CPUS.sut, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                code, body = http_get(self.port, "/livez", timeout=1)
                if code == 200 and len(body) == len(livez_body):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchError("nginx did not start: see " + os.path.join(self.dir, "nginx-error.log"))
            time.sleep(0.05)

    def stop(self):
        # SIGQUIT: graceful stop of the master and its worker.
        return stop(self.proc, signal.SIGQUIT)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def process_tree(pid):
    pids = [pid]
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    pids.extend(process_tree(int(child)))
    return pids


def cpu_ns(pid):
    """On-CPU time of a process, its threads and its children (schedstat: nanoseconds)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
    return total


def wrk(port, path, connections, duration, server_pid=None, headers=(), scheme="http"):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for h in headers:
        argv += ["-H", h]
    argv.append(f"{scheme}://127.0.0.1:{port}{path}")
    cpu_before = cpu_ns(server_pid) if server_pid else 0
    with on_cpu(CPUS.load):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    cpu_used = cpu_ns(server_pid) - cpu_before if server_pid else 0

    def latency(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    requests = int(total.group(1)) if total else 0
    return {"rps": float(rps.group(1)) if rps else float("nan"), "p50": latency("50"), "p99": latency("99"),
            "requests": requests, "cpu_us": cpu_used / 1e3 / requests if requests and server_pid else float("nan"),
            "errors": sum(int(x) for x in errors.groups()) if errors else 0,
            "errors_text": errors.group(0) if errors else "", "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "raw": out}


class NotifyListener:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; stamps every message on arrival."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (monotonic ns, text)
        self.cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            t = time.monotonic_ns()
            with self.cond:
                self.messages.append((t, data.decode(errors="replace")))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait_for(self, needle, since, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.messages):
                    if needle in self.messages[i][1].split("\n"):
                        return self.messages[i][0]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"no {needle} datagram within {timeout} s")
                self.cond.wait(left)


# ---------------------------------------------------------------------------------------------
# The run.

class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="ibkr-sessiond-bench.")
        self.key = os.path.join(self.work, "bench-key.pem")
        self.env_file = os.path.join(self.work, "bench.env")
        self.ca_file = os.path.join(self.work, "sim-ca.pem")
        self.rows = []
        self.notes = []
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", self.key], check=True, stderr=subprocess.DEVNULL)
        os.chmod(self.key, 0o600)
        with open(self.env_file, "w") as f:
            f.write(f"IBKR_CLIENT_ID=bench-client\nIBKR_CLIENT_KEY_ID=main\nIBKR_PRIVATE_KEY_FILE={self.key}\n"
                    f"IBKR_CREDENTIAL=benchuser\nIBKR_ACCOUNT_ID={ACCOUNT}\nIBKR_ALLOWED_IP=127.0.0.1\n"
                    "IBKR_ENV=paper\n")
        self.sim = Sim(self)

    def base_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("IBKR_", "SESSIOND_", "NOTIFY_SOCKET", "WATCHDOG_", "SSL_CERT_"))}
        # SSL_CERT_FILE/DIR are dropped too: a service sees OpenSSL's default trust store.
        return env

    def daemon_env(self, extra=None):
        env = self.base_env()
        # A fresh state directory per daemon (as the in-memory record of earlier versions was): one
        # daemon's pacing record never holds back the next; HOME in the work directory, so that
        # nothing lands in the real home either.
        env.update({"IBKR_BASE_URL": f"https://127.0.0.1:{self.sim.https_port}", "IBKR_CA_FILE": self.ca_file,
                    "SESSIOND_LISTEN": "127.0.0.1:0", "HOME": self.work,
                    "SESSIOND_STATE_DIR": tempfile.mkdtemp(prefix="state.", dir=self.work)})
        env.update(extra or {})
        return env

    def row(self, figure, daemon, reference, target, met):
        self.rows.append((figure, daemon, reference, target, met))
        note(f"{figure}: {daemon}")  # at once: a later figure that fails leaves this one said

    def cleanup(self):
        stop_all_children()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.key)  # a throw-away key, but never left behind
        if self.args.keep:
            print(f"\nkept {self.work} (without the key)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def yes_no(ok):
    return "yes" if ok else "**no**"


def ms(x, digits=3):
    return f"{x:.{digits}f} ms"


def rate(x):
    return f"{x:,.0f}/s"


# --- 6. binary size and time to READY=1 --------------------------------------------------------

def fig_startup(b):
    say("6. binary size and time to READY=1")
    stripped = os.path.join(b.work, "ibkr-sessiond.stripped")
    subprocess.run(["strip", "-o", stripped, DAEMON], check=True)
    size = os.path.getsize(stripped)
    nginx_size = os.path.getsize(shutil.which("nginx"))
    note(f"ibkr-sessiond stripped: {size / 2**20:.2f} MiB ({size:,} bytes; unstripped {os.path.getsize(DAEMON):,}); "
         f"nginx (Debian, stripped): {nginx_size / 2**20:.2f} MiB")
    b.row("6 binary size, stripped", f"{size / 2**20:.2f} MiB", f"nginx {nginx_size / 2**20:.2f} MiB",
          "no target (for scale)", "—")

    listener = NotifyListener(os.path.join(b.work, "notify-ready.sock"))
    env = b.daemon_env({"NOTIFY_SOCKET": listener.path})
    ref_env = b.base_env()
    ref_env["NOTIFY_SOCKET"] = listener.path
    daemon_ms, ref_ms = [], []
    for _ in range(b.args.starts):
        for who in ("daemon", "reference"):
            since = listener.mark()
            if who == "daemon":
                argv, e = [DAEMON, "run", "--env-file", b.env_file], env
            else:
                argv, e = ["systemd-notify", "--ready", "--no-block"], ref_env
            t0 = time.monotonic_ns()
            p = spawn(argv, cpu=CPUS.sut, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t1 = listener.wait_for("READY=1", since, 10)
            (daemon_ms if who == "daemon" else ref_ms).append((t1 - t0) / 1e6)
            stop(p)
    d, r = median(daemon_ms), median(ref_ms)
    note(f"time to READY=1, median of {len(daemon_ms)}: daemon {ms(d, 2)} (min {min(daemon_ms):.2f}, "
         f"max {max(daemon_ms):.2f}); systemd-notify --ready {ms(r, 2)}")
    b.row(f"6 time to READY=1 (median of {len(daemon_ms)})", ms(d, 1), f"systemd-notify --ready {ms(r, 1)}",
          f"x{d / r:.1f} of the reference; no target", "—")
    listener.sock.close()


# --- 3. time to connected --------------------------------------------------------------------

STEP_LINES = [
    ("listening", r"API listening on"),
    ("session", r"starting \w+ session for account"),
    ("tls", r"oauth: new connection \(TCP connect and TLS handshake\) in ([\d.]+) ms"),
    ("oauth", r"oauth: HTTP 200 in"),
    ("sso", r"sso: HTTP 200 in"),
    ("validate", r"validate: HTTP 200 in"),
    ("init", r"init: HTTP 200 in"),
    ("accounts", r"accounts: HTTP 200 in"),
    ("connected", r"session connected"),
]


def time_daemon_start(b, env):
    # A cold start each time: a fresh state directory, so that the previous start's pacing record
    # (login spacing, validate minute) does not hold this one back.
    env = dict(env, SESSIOND_STATE_DIR=tempfile.mkdtemp(prefix="state.", dir=b.work))
    t0 = time.monotonic_ns()
    p = spawn([DAEMON, "run", "--env-file", b.env_file, "--log-level", "debug"], cpu=CPUS.sut, env=env,
              stderr=subprocess.PIPE)
    marks, tls_ms = {}, None
    try:
        for raw in p.stderr:
            t = (time.monotonic_ns() - t0) / 1e6
            line = raw.decode(errors="replace")
            for name, pattern in STEP_LINES:
                m = re.search(pattern, line)
                if m and name not in marks:
                    marks[name] = t
                    if name == "tls":
                        tls_ms = float(m.group(1))
            if "connected" in marks or " error " in line:
                break
    finally:
        stop(p)
        p.stderr.close()
    if "connected" not in marks:
        raise BenchError("the daemon did not connect")
    marks["tls_ms"] = tls_ms
    return marks


def time_process(argv, env, until_line=None):
    """Process start to exit (or to the first stdout line containing until_line)."""
    t0 = time.monotonic_ns()
    p = spawn(argv, cpu=CPUS.sut, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if until_line:
        for raw in p.stdout:
            if until_line in raw.decode(errors="replace"):
                break
        t = (time.monotonic_ns() - t0) / 1e6
        p.wait()
    else:
        p.stdout.read()
        p.wait()
        t = (time.monotonic_ns() - t0) / 1e6
    err = p.stderr.read().decode(errors="replace")
    p.stdout.close()
    p.stderr.close()
    if p.returncode != 0:
        raise BenchError(f"{argv[0]} failed ({p.returncode}): {err.strip()[:500]}")
    return t


def fig_time_to_connected(b):
    say(f"3. time to connected: process start to the first authenticated tickle, median of {b.args.starts}")
    env = b.daemon_env({"IBKR_INIT_SETTLE": "0"})
    # For comparison: the whole bundle parsed up front, as OpenSSL's default paths do (and as the daemon
    # does when SSL_CERT_FILE is set); by default it reads the hashed /etc/ssl/certs lazily.
    bundle_env = dict(env, SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt")
    ref_env = b.base_env()
    ref_env.update({k: v for k, v in env.items() if k.startswith(("IBKR_", "SESSIOND_"))})
    with open(b.env_file) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            ref_env[k] = v
    runs, bundle_runs, script_ms, floor_ms, config_ms, pyfloor_ms = [], [], [], [], [], []
    for _ in range(b.args.starts):
        runs.append(time_daemon_start(b, env))
        script_ms.append(time_process([PYTHON, REFERENCE_SCRIPT], ref_env, until_line="authenticated tickle"))
        bundle_runs.append(time_daemon_start(b, bundle_env))
        floor_ms.append(time_process([DAEMON, "--version"], env))
        config_ms.append(time_process([DAEMON, "check-config", "--env-file", b.env_file], env))
        pyfloor_ms.append(time_process([PYTHON, "-c", "import http.client, json, ssl, urllib.parse, jwt"], ref_env))

    total = median([r["connected"] for r in runs])
    bundle_total = median([r["connected"] for r in bundle_runs])
    script = median(script_ms)
    floor, config = median(floor_ms), median(config_ms)

    def step(runs_, a, b_):
        return median([r[b_] - r[a] for r in runs_])

    tls = median([r["tls_ms"] for r in runs if r["tls_ms"] is not None])
    listening = median([r["listening"] for r in runs])
    parts = [
        ("start-up: exec, shared libraries, configuration, key load, API bind", listening),
        ("TLS context: system trust store (hashed directory) + IBKR_CA_FILE", step(runs, "listening", "session")),
        ("TCP connect + TLS handshake", tls),
        ("token: sign the assertion, POST /oauth2/api/v1/token", step(runs, "session", "oauth") - tls),
        ("SSO: sign the JWT, POST /gw/api/v1/sso-sessions", step(runs, "oauth", "sso")),
        ("validate", step(runs, "sso", "validate")),
        ("init + accounts", step(runs, "validate", "accounts")),
        ("first tickle", step(runs, "accounts", "connected")),
    ]
    note(f"for scale, process start to exit: `ibkr-sessiond --version` {ms(floor, 2)}, `check-config` (with the "
         f"key load) {ms(config, 2)}")
    note(f"daemon {ms(total, 2)} (min {min(r['connected'] for r in runs):.2f}); reference script {ms(script, 1)} "
         f"(python3 + imports alone: {ms(median(pyfloor_ms), 1)}); ratio x{script / total:.1f}")
    for name, v in parts:
        note(f"  {v:7.3f} ms  {100 * v / total:5.1f} %  {name}")
    note(f"for comparison, the CA bundle parsed up front (SSL_CERT_FILE={bundle_env['SSL_CERT_FILE']}): "
         f"{ms(bundle_total, 2)}, of which TLS context {ms(step(bundle_runs, 'listening', 'session'), 2)}")
    b.row(f"3 time to connected (median of {len(runs)})", ms(total, 1), f"Python script {ms(script, 1)}",
          f"< 25 ms: {yes_no(total < 25)}; >= x10: x{script / total:.1f}", yes_no(total < 25 and script / total >= 10))
    b.row("3 ... of which: TLS context (trust store)", ms(step(runs, "listening", "session"), 1),
          "—", f"{100 * step(runs, 'listening', 'session') / total:.0f} % of the total", "—")
    b.row("3 for comparison: CA bundle parsed up front", ms(bundle_total, 1), f"Python script {ms(script, 1)}",
          f"x{script / bundle_total:.1f}; SSL_CERT_FILE set, as before the change", "—")


# --- 1. status server throughput and latency -------------------------------------------------

def fig_throughput(b):
    say(f"1. status server throughput: wrk -t1, keep-alive; each point {b.args.slices} x {b.args.slice} s, "
        f"daemon and nginx alternating")
    d = Daemon(b, name="daemon-throughput")
    d.wait_state("connected")
    _, livez = d.get("/livez")
    _, status = d.get("/api/ibkr/status")
    ngx = Nginx(b, livez, status)
    note(f"bodies: /livez {len(livez)} bytes, /api/ibkr/status {len(status)} bytes; nginx on 127.0.0.1:{ngx.port}")
    servers = {"daemon": d.port, "nginx": ngx.port}
    pids = {"daemon": d.pid, "nginx": ngx.proc.pid}
    paths = ["/livez", "/api/ibkr/status"]
    conns = [1, 64, 512]
    for port in servers.values():  # warm-up
        wrk(port, "/livez", 64, 1)
    results = {}
    mark = d.log.mark()
    for rnd in range(b.args.slices):
        for c in conns:
            for path in paths:
                order = list(servers) if rnd % 2 == 0 else list(reversed(servers))
                for name in order:
                    r = wrk(servers[name], path, c, b.args.slice, pids[name])
                    results.setdefault((name, path, c), []).append(r)
                    note(f"{name:6} {path:17} c={c:3}: {rate(r['rps']):>10}  p50 {ms(r['p50'])}  p99 {ms(r['p99'])}"
                         f"  {r['cpu_us']:.2f} us CPU/request"
                         + (f"  {r['errors_text']}" if r["errors"] else "")
                         + (f"  non-2xx {r['non2xx']}" if r["non2xx"] else ""))
    # Beyond the daemon's cap of 512 connections: at the cap it closes the idlest one for each new one.
    over = {name: wrk(servers[name], "/livez", 600, b.args.slice, pids[name]) for name in servers}
    for name, r in over.items():
        note(f"{name:6} /livez            c=600: {rate(r['rps']):>10}  p50 {ms(r['p50'])}  p99 {ms(r['p99'])}"
             + (f"  {r['errors_text']}" if r["errors"] else ""))
    evictions = [t for _, _, t in d.log.lines[mark:] if "closed a connection" in t or "refused" in t]
    ngx.stop()
    d.stop()

    def agg(name, path, c, key):
        return median([r[key] for r in results[(name, path, c)]])

    def paired(path, c, key):
        # Each round measured the two servers back to back: the ratio within a round is what a noisy
        # machine cannot fake; the median of those is reported.
        pairs = zip(results[("daemon", path, c)], results[("nginx", path, c)])
        return median([d_[key] / n_[key] for d_, n_ in pairs])

    for path in paths:
        for c in conns:
            dr, nr = agg("daemon", path, c, "rps"), agg("nginx", path, c, "rps")
            dp99, np99 = agg("daemon", path, c, "p99"), agg("nginx", path, c, "p99")
            errs = sum(r["errors"] for r in results[("daemon", path, c)])
            nerrs = sum(r["errors"] for r in results[("nginx", path, c)])
            ratio, cpu_ratio = paired(path, c, "rps"), paired(path, c, "cpu_us")
            target, met = f"req/s x{ratio:.2f}", "—"
            if path == "/livez" and c == 64:
                target = f"req/s >= nginx: x{ratio:.2f}; p99 < 1 ms"
                met = yes_no(ratio >= 1 and dp99 < 1.0)
            dcpu, ncpu = agg("daemon", path, c, "cpu_us"), agg("nginx", path, c, "cpu_us")
            extra = f"; socket errors {errs}" if errs else ""
            nextra = f"; socket errors {nerrs}" if nerrs else ""
            b.row(f"1 {path} c={c}",
                  f"{rate(dr)}, p50 {ms(agg('daemon', path, c, 'p50'))}, p99 {ms(dp99)}, {dcpu:.1f} µs CPU/req{extra}",
                  f"nginx {rate(nr)}, p50 {ms(agg('nginx', path, c, 'p50'))}, p99 {ms(np99)}, {ncpu:.1f} µs CPU/req"
                  f"{nextra}", target + f"; CPU/req x{cpu_ratio:.2f}", met)
    r, n = over["daemon"], over["nginx"]
    b.row("1 /livez c=600 (over the cap of 512)", f"{rate(r['rps'])}, p99 {ms(r['p99'])}; {r['errors_text'] or 'no errors'}",
          f"nginx {rate(n['rps'])}, p99 {ms(n['p99'])}; {n['errors_text'] or 'no errors'}",
          "the cap holds: idlest connections closed" if r["errors"] else "—", "—")
    if evictions:
        b.notes.append("daemon log during the 512- and 600-connection points: " + " / ".join(
            e.split(" ", 2)[-1] for e in evictions[:2]))
    b.throughput = results


# --- 2. health under stress ------------------------------------------------------------------

STRESS_ENV = {
    # Reconnecting as fast as the settings allow (relaxed for the bench, see README): retries 10-40 ms
    # apart, no login spacing, the largest hourly login budget, no tickle pacing.
    "SESSIOND_BACKOFF_INITIAL": "0.02",
    "SESSIOND_BACKOFF_MAX": "0.04",
    "SESSIOND_LOGIN_MIN_INTERVAL": "0",
    "SESSIOND_LOGINS_PER_HOUR": "1000",
    "IBKR_PACE_TICKLE": "0",
    "IBKR_PACE_VALIDATE": "0",
    "IBKR_INIT_SETTLE": "0",
    # Pacing looser than IBKR's limits needs the simulator switch (the daemon refuses it otherwise).
    "SESSIOND_SIMULATOR_LIMITS": "true",
}


def fig_stress(b):
    slices, length = b.args.stress_slices, b.args.stress_slice
    say(f"2. /livez latency while the daemon reconnects: idle, tickle retry loop, login retry loop, "
        f"{length} s each, alternating, {slices} times per connection count")
    token = "bench-" + os.urandom(16).hex()
    results = {}
    # One daemon: the login loops stay within its (relaxed) hourly login budget.
    d = Daemon(b, dict(STRESS_ENV, SESSIOND_API_TOKEN=token), name="daemon-stress")
    d.wait_state("connected")

    def start_test():
        # A connection test tickles now (the next routine tickle is a minute away); not awaited.
        with contextlib.suppress(OSError):
            d.get("/api/ibkr/test", method="POST", headers={"Authorization": f"Bearer {token}"}, timeout=0.2)

    loop_cost = {}

    def stressed(kind, c, counted):
        start_test()
        time.sleep(0.1)
        if kind not in loop_cost:
            # Without load: what the retry loop itself costs the event loop (noise cannot inflate
            # this much: it is the daemon's own CPU time), per retry and per second.
            cpu0, n0, t0 = cpu_ns(d.pid), b.sim.count(counted), time.monotonic()
            time.sleep(2)
            cpu1, n1, t1 = cpu_ns(d.pid), b.sim.count(counted), time.monotonic()
            loop_cost[kind] = ((cpu1 - cpu0) / 1e6 / max(n1 - n0, 1), (cpu1 - cpu0) / 1e6 / (t1 - t0))
        before, t = b.sim.count(counted), time.monotonic()
        r = wrk(d.port, "/livez", c, length)
        r["attempts"] = (b.sim.count(counted) - before) / (time.monotonic() - t)
        r["state"] = d.status()["state"]
        b.sim.clear_faults()
        d.wait_state("connected")
        results.setdefault((kind, c), []).append(r)
        return r

    for c in (64, 1):
        for _ in range(slices):
            r = wrk(d.port, "/livez", c, length)
            results.setdefault(("idle", c), []).append(r)
            line = f"c={c:2}: idle p99 {ms(r['p99'])}"

            # Tickle retry loop: every IBKR request answers 503 (a connected session retries its tickle).
            b.sim.fault({"path": "*", "action": "status", "status": 503, "count": -1})
            r = stressed("tickle", c, "/v1/api/tickle 503")
            line += f"; tickle loop p99 {ms(r['p99'])} ({r['attempts']:.0f}/s, {r['state']})"

            # Login retry loop: the SSO session is gone and the token endpoint answers 503, so every
            # retry signs a new RS256 assertion on the event loop.
            b.sim.fault({"path": "/oauth2/api/v1/token", "action": "status", "status": 503, "count": -1})
            b.sim.control("/control/expire-sessions", method="POST")
            r = stressed("login", c, "/oauth2/api/v1/token 503")
            line += f"; login loop p99 {ms(r['p99'])} ({r['attempts']:.0f}/s, {r['state']})"
            note(line)
    d.stop()

    for c in (64, 1):
        idle = median([r["p99"] for r in results[("idle", c)]])
        for kind, label in (("tickle", "tickle retry loop"), ("login", "login retry loop")):
            p99 = median([r["p99"] for r in results[(kind, c)]])
            att = median([r["attempts"] for r in results[(kind, c)]])
            # idle and stressed were measured back to back: the median of those ratios
            ratio = median([r["p99"] / i["p99"] for r, i in zip(results[(kind, c)], results[("idle", c)])])
            b.row(f"2 /livez p99 c={c}, {label} ({att:.0f}/s)", ms(p99), f"idle {ms(idle)}",
                  f"<= x1.5: x{ratio:.2f}", yes_no(ratio <= 1.5))
    for kind, label in (("tickle", "tickle retry"), ("login", "login retry")):
        per_retry, per_second = loop_cost[kind]
        note(f"{label} loop without load: {ms(per_retry)} of the daemon's CPU per retry (schedstat; a loaded "
             f"machine inflates it with cold caches), {per_second:.1f} ms per second")
        b.row(f"2 daemon CPU per {label} (no load)", ms(per_retry, 2), f"{per_second:.1f} ms per s of loop time",
              "how long a /livez request arriving meanwhile can wait", "—")
    b.stress = results


# --- 4. recovery -----------------------------------------------------------------------------

RECOVERY_ENV = {"IBKR_TICKLE_INTERVAL": "1", "SESSIOND_BACKOFF_MAX": "4", "IBKR_INIT_SETTLE": "0"}


def parse_iso_ms(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000.0


def log_time_ms(line):
    stamp = line.split(" ", 1)[0]  # 2026-01-02T03:04:05.678+00:00
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000.0


def fig_recovery(b):
    say(f"4. recovery: end of a maintenance outage to authenticated again, vs the scheduled retry; "
        f"{b.args.recoveries} outages")
    d = Daemon(b, RECOVERY_ENV, name="daemon-recovery")
    d.wait_state("connected")
    late, waits, recov = [], [], []
    for i in range(b.args.recoveries):
        d.wait_state("connected")
        failures_wanted = 1 + i % 2  # end some outages after the first retry, some after the second
        b.sim.maintenance(True)
        deadline = time.monotonic() + 30
        while True:
            s = d.status()
            if (s.get("consecutive_failures", 0) >= failures_wanted and s.get("next_retry_at")
                    and (s.get("next_retry_in_seconds") or 0) > 0.25):
                break
            if time.monotonic() > deadline:
                raise BenchError("no retry scheduled during the outage:\n" + d.log.tail())
            time.sleep(0.01)
        scheduled = parse_iso_ms(s["next_retry_at"])
        mark = d.log.mark()
        b.sim.maintenance(False)
        ended = time.time_ns() / 1e6
        _, (mono, wall, text), _ = d.log.wait_for(r"session connected", since=mark, timeout=30)
        # When the daemon says so (its log line's own time stamp, 1 ms resolution), not when this
        # driver got round to reading it; both are shown.
        back = log_time_ms(text)
        seen = wall / 1e6
        late.append(back - scheduled)
        waits.append(scheduled - ended)
        recov.append(back - ended)
        note(f"outage {i + 1}: ended {scheduled - ended:6.0f} ms before the scheduled retry (attempt "
             f"{s['consecutive_failures']}); authenticated {back - ended:7.1f} ms after its end: "
             f"{back - scheduled:+.0f} ms from the schedule (read here {seen - scheduled:+.2f} ms)")
    d.stop()
    b.row(f"4 recovery: authenticated vs scheduled retry ({len(late)} outages)",
          f"median {median(late):+.0f} ms, max {max(late):+.0f} ms (daemon's log time, 1 ms resolution)",
          f"schedule: retry {median(waits):.0f} ms after the outage ended (median)",
          "within 10 ms", yes_no(max(abs(x) for x in late) <= 10))
    b.recovery = (late, waits, recov)


# --- 5. idle cost ----------------------------------------------------------------------------

def task_stats(pid):
    """CPU (schedstat ns, and utime+stime ticks) and context switches over all threads."""
    run_ns, ticks, vol, invol = 0, 0, 0, 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        invol += int(line.split()[1])
    return {"run_ns": run_ns, "ticks": ticks, "vol": vol, "invol": invol,
            "threads": len(os.listdir(f"/proc/{pid}/task"))}


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    with contextlib.suppress(FileNotFoundError):
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    return out


def resident_by_mapping(pid):
    """Resident kB per mapped file ([heap], [stack], anonymous), largest first."""
    sizes, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = os.path.basename(head[5]) if len(head) > 5 else "[anonymous]"
            elif head and head[0] == "Rss:":
                sizes[name] = sizes.get(name, 0) + int(head[1])
    return sorted(sizes.items(), key=lambda kv: -kv[1])


def perf_works():
    if not shutil.which("perf"):
        return False
    r = subprocess.run(["perf", "stat", "-e", "syscalls:sys_exit_epoll_wait", "true"], capture_output=True)
    return r.returncode == 0


def fig_idle(b):
    window = b.args.idle
    say(f"5. idle cost: connected, default tickle interval (60 s), watchdog 30 s; {window} s window")
    listener = NotifyListener(os.path.join(b.work, "notify-idle.sock"))
    first_call = b.sim.log.mark()
    d = Daemon(b, {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "30000000"}, name="daemon-idle")
    # Connected, as the log says: no API request at all, since a request's cancelled deadline timer
    # would leave Asio's timerfd armed and cause one spurious wake-up later.
    d.log.wait_for(r"session connected", timeout=60)
    connected_at = time.monotonic_ns()
    time.sleep(2)  # from here on nothing talks to the daemon but IBKR
    use_perf = perf_works()
    trace_file = os.path.join(b.work, "idle-wakeups.data")
    if use_perf:
        tracer = spawn(["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", "syscalls:sys_exit_epoll_wait",
                        "-e", "syscalls:sys_exit_epoll_pwait", "-e", "raw_syscalls:sys_enter", "-p", str(d.pid),
                        "-o", trace_file], cpu=CPUS.load, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        tracer = spawn(["strace", "-f", "-ttt", "-T", "-e", "trace=epoll_wait,epoll_pwait", "-o", trace_file, "-p",
                        str(d.pid)], cpu=CPUS.load, stderr=subprocess.DEVNULL)
    time.sleep(1)
    sim_mark, notify_mark = b.sim.log.mark(), listener.mark()
    t_start = time.monotonic_ns()
    before = task_stats(d.pid)
    time.sleep(window)
    after = task_stats(d.pid)
    t_end = time.monotonic_ns()
    mem = memory(d.pid)
    mappings = resident_by_mapping(d.pid)
    stop(tracer, signal.SIGINT, 30)
    connected_for = (t_end - connected_at) / 1e9

    # Wake-ups: epoll_wait returns in the window, grouped into episodes (returns < 20 ms apart), each
    # explained by an IBKR call the simulator logged or a WATCHDOG=1 datagram within 50 ms.
    wakeups, syscalls = [], 0
    if use_perf:
        out = subprocess.run(["perf", "script", "-i", trace_file, "-F", "time,event"], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*([\d.]+):\s+(\S+)", line)
            if not m:
                continue
            t = float(m.group(1)) * 1e9
            if not t_start <= t <= t_end:
                continue
            if "epoll" in m.group(2):
                wakeups.append(t)
            else:
                syscalls += 1
        how = "perf record -e syscalls:sys_exit_epoll_wait (CLOCK_MONOTONIC)"
    else:
        # strace stamps the entry (wall clock); -T adds the time spent inside: the return.
        offset = time.time_ns() - time.monotonic_ns()
        with open(trace_file) as f:
            for line in f:
                m = re.match(r"(?:\d+\s+)?([\d.]+) .*epoll_p?wait.* = \d+.*<([\d.]+)>", line)
                if m:
                    t = (float(m.group(1)) + float(m.group(2))) * 1e9 - offset
                    if t_start <= t <= t_end:
                        wakeups.append(t)
        how = "strace -ttt -T -e epoll_wait"
    calls = [t for t, _, text in b.sim.log.lines[sim_mark:] if t_start - 1e8 <= t <= t_end + 1e8]
    pings = [t for t, text in listener.messages[notify_mark:] if "WATCHDOG=1" in text.split("\n")]
    episodes = []
    for t in sorted(wakeups):
        if episodes and t - episodes[-1][-1] < 20e6:
            episodes[-1].append(t)
        else:
            episodes.append([t])
    stale, closed = "cancelled call deadline (Asio timerfd)", "IBKR closed the idle connection"
    causes = {"IBKR call": 0, "watchdog": 0, stale: 0, closed: 0, "unexplained": 0}
    unexplained = []
    all_calls = [t for t, _, _ in b.sim.log.lines[first_call:]]
    # Every IBKR call arms a deadline of IBKR_HTTP_TIMEOUT (10 s) and cancels it when the answer is
    # in; Asio does not disarm its timerfd on a cancel, so the old deadline still wakes the loop once.
    deadlines = [t + 10e9 for t in all_calls]
    # ibkr-sim closes a keep-alive connection 30 s after its last request (its read timeout); the
    # daemon's socket stays registered with epoll, so the FIN is one wake-up with nothing to do.
    closes = [t + 30e9 for t in all_calls]
    for ep in episodes:
        def near(events, slack=50e6):
            return any(ep[0] - slack <= e <= ep[-1] + slack for e in events)
        if near(calls):
            causes["IBKR call"] += 1
        elif near(pings):
            causes["watchdog"] += 1
        elif near(deadlines, 100e6):
            causes[stale] += 1
        elif near(closes, 1e9):
            causes[closed] += 1
        else:
            causes["unexplained"] += 1
            unexplained.append((ep[0] - t_start) / 1e9)
    seconds = (t_end - t_start) / 1e9
    cpu_s = (after["run_ns"] - before["run_ns"]) / 1e9
    ticks_s = (after["ticks"] - before["ticks"]) / os.sysconf("SC_CLK_TCK")
    per_hour = cpu_s * 3600 / seconds
    wakeups_per_min = len(wakeups) * 60 / seconds
    d.stop()
    listener.sock.close()
    note(f"window {seconds:.1f} s; threads {after['threads']}; CPU {cpu_s * 1000:.2f} ms (schedstat), "
         f"{ticks_s * 1000:.0f} ms (utime+stime ticks) -> {per_hour:.3f} CPU s per hour")
    note(f"memory after {connected_for:.0f} s connected: VmRSS {mem.get('VmRSS', 0) / 1024:.2f} MiB (anon "
         f"{mem.get('RssAnon', 0) / 1024:.2f}, file {mem.get('RssFile', 0) / 1024:.2f}), PSS "
         f"{mem.get('Pss', 0) / 1024:.2f} MiB, peak VmHWM {mem.get('VmHWM', 0) / 1024:.2f} MiB")
    note("resident by mapping: " + ", ".join(f"{name} {kb / 1024:.2f}" for name, kb in mappings[:8]) + " (MiB)")
    note(f"wake-ups ({how}): {len(wakeups)} epoll returns in {len(episodes)} episodes; "
         f"{len(calls)} IBKR calls, {len(pings)} watchdog pings; episodes by cause {causes}; "
         f"{syscalls} other syscalls; context switches voluntary {after['vol'] - before['vol']}, "
         f"involuntary {after['invol'] - before['invol']}")
    if unexplained:
        note(f"unexplained episodes at (s into the window): {', '.join(f'{x:.1f}' for x in unexplained[:20])}")
    rss = mem.get("VmRSS", 0) / 1024
    b.row(f"5 RSS after {connected_for:.0f} s connected", f"{rss:.2f} MiB (anon {mem.get('RssAnon', 0) / 1024:.2f})",
          "—", "< 8 MiB", yes_no(rss < 8))
    b.row(f"5 CPU per hour idle ({seconds:.0f} s window, scaled)", f"{per_hour:.3f} s",
          "—", "< 0.5 s", yes_no(per_hour < 0.5))
    b.row(f"5 wake-ups ({seconds:.0f} s window)",
          f"{len(episodes)} episodes ({len(wakeups)} epoll returns, {wakeups_per_min:.1f}/min)",
          f"{len(calls)} IBKR calls + {len(pings)} watchdog pings",
          f"none beyond those: {causes[stale]} from cancelled deadlines, {causes[closed]} from IBKR closing "
          f"the idle connection, {causes['unexplained']} unexplained",
          yes_no(causes[stale] + causes[closed] + causes["unexplained"] == 0))
    b.idle = {"cpu_s": cpu_s, "mem": mem, "wakeups": len(wakeups), "episodes": causes}


# ---------------------------------------------------------------------------------------------

# --- 7. the gateway ---------------------------------------------------------------------------------

def start_nginx_proxy(b, sim_port, ca_file, bearer):
    d = os.path.join(b.work, "nginx-proxy")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    with open(NGINX_PROXY_TEMPLATE) as f:
        conf = f.read()
    conf = (conf.replace("@DIR@", d).replace("@PORT@", str(port)).replace("@SIM_PORT@", str(sim_port))
            .replace("@CA@", ca_file).replace("@BEARER@", bearer))
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    proc = spawn(["nginx", "-p", d + "/", "-c", path, "-e", os.path.join(d, "nginx-error.log"), "-g", "daemon off;"],
                 cpu=CPUS.sut, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError):
            code, _ = http_get(port, GATEWAY_PATH, timeout=1)
            if code == 200:
                return proc, port
        if time.monotonic() > deadline or proc.poll() is not None:
            raise BenchError("the nginx proxy did not start: see " + os.path.join(d, "nginx-error.log"))
        time.sleep(0.05)


GATEWAY_PATH = "/v1/api/iserver/accounts"


def fig_gateway(b):
    say(f"7. gateway: a forwarded call, the daemon against nginx as a reverse proxy adding the same bearer, "
        f"each in front of its own ibkr-sim (no pacing); {b.args.slices} x {b.args.slice} s per point")
    # The daemon's simulator is the shared one; nginx gets one of its own, logged in by the reference
    # script (one SSO session per username and simulator: the two never replace each other's).
    d = Daemon(b, {"IBKR_MAX_REQUESTS_PER_SECOND": "0", "SESSIOND_SIMULATOR_LIMITS": "true"}, name="daemon-gateway")
    d.wait_state("connected")
    other = Sim(b, name="sim-nginx", ca_file=os.path.join(b.work, "sim-nginx-ca.pem"))
    env = b.base_env()
    env.update({"IBKR_CLIENT_ID": "bench-client", "IBKR_CLIENT_KEY_ID": "main", "IBKR_PRIVATE_KEY_FILE": b.key,
                "IBKR_CREDENTIAL": "benchuser", "IBKR_ACCOUNT_ID": ACCOUNT, "IBKR_ALLOWED_IP": "127.0.0.1",
                "IBKR_BASE_URL": f"https://127.0.0.1:{other.https_port}", "IBKR_CA_FILE": other.ca_file,
                "REFERENCE_PRINT_BEARER": "1"})
    out = subprocess.run([PYTHON, REFERENCE_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    lines = out.stdout.split()
    if out.returncode != 0 or not lines:
        raise BenchError("the reference login for nginx failed: " + out.stderr)
    bearer = lines[-1]
    ngx, ngx_port = start_nginx_proxy(b, other.https_port, other.ca_file, bearer)
    direct = {"port": other.https_port, "headers": (f"Authorization: Bearer {bearer}",), "scheme": "https"}
    servers = {"daemon": {"port": d.port, "headers": (), "scheme": "http", "pid": d.pid},
               "nginx": {"port": ngx_port, "headers": (), "scheme": "http", "pid": ngx.pid},
               "direct": dict(direct, pid=other.proc.pid)}
    for s_ in servers.values():  # warm-up
        wrk(s_["port"], GATEWAY_PATH, 8, 1, headers=s_["headers"], scheme=s_["scheme"])
    results = {}
    for rnd in range(b.args.slices):
        for c in (1, 64):
            order = list(servers) if rnd % 2 == 0 else list(reversed(servers))
            for name in order:
                s_ = servers[name]
                r = wrk(s_["port"], GATEWAY_PATH, c, b.args.slice, s_["pid"], s_["headers"], s_["scheme"])
                results.setdefault((name, c), []).append(r)
                note(f"{name:6} c={c:2}: {rate(r['rps']):>10}  p50 {ms(r['p50'])}  p99 {ms(r['p99'])}  "
                     f"CPU {r['cpu_us']:.1f} µs/request"
                     + (f"  {r['errors_text']}" if r["errors"] else "")
                     + (f"  non-2xx {r['non2xx']}" if r["non2xx"] else ""))
    stop(ngx, signal.SIGQUIT)
    other.proc.terminate()
    d.stop()

    def agg(name, c, key):
        return median([r[key] for r in results[(name, c)]])

    ratio = median([dr["rps"] / nr["rps"] for dr, nr in zip(results[("daemon", 64)], results[("nginx", 64)])])
    b.row("7 gateway c=64, forwarded GET", f"{rate(agg('daemon', 64, 'rps'))}, p50 {ms(agg('daemon', 64, 'p50'))}, "
          f"p99 {ms(agg('daemon', 64, 'p99'))}",
          f"nginx proxy {rate(agg('nginx', 64, 'rps'))}, p50 {ms(agg('nginx', 64, 'p50'))}; direct "
          f"{rate(agg('direct', 64, 'rps'))}", f">= nginx: x{ratio:.2f}", yes_no(ratio >= 1.0))
    added = [(dr["p50"] - sr["p50"]) * 1000 for dr, sr in zip(results[("daemon", 1)], results[("direct", 1)])]
    nadded = [(nr["p50"] - sr["p50"]) * 1000 for nr, sr in zip(results[("nginx", 1)], results[("direct", 1)])]
    b.row("7 gateway c=1, added p50 over calling ibkr-sim directly", f"{median(added):.0f} µs",
          f"nginx proxy {median(nadded):.0f} µs; direct p50 {ms(agg('direct', 1, 'p50'))}", "< 50 µs",
          yes_no(median(added) < 50))


# --- 8. the gateway's WebSocket ----------------------------------------------------------------------

def fig_websocket(b):
    import websocket  # python3-websocket (websocket-client), installed by run.sh

    clients_n, idle_n, conids = 8, 200, 20
    say(f"8. gateway WebSocket: {clients_n} clients sharing {conids} market-data subscriptions the simulator "
        f"updates every 10 ms (fanned out from one upstream socket), then {idle_n} idle sockets for memory")
    sim = Sim(b, name="sim-ws", ca_file=os.path.join(b.work, "sim-ws-ca.pem"),
              extra_args=["--ws-market-data-interval", "0.01", "--no-endpoint-limits"])
    env = {"IBKR_BASE_URL": f"https://127.0.0.1:{sim.https_port}", "IBKR_CA_FILE": sim.ca_file,
           "IBKR_MAX_REQUESTS_PER_SECOND": "0", "SESSIOND_SIMULATOR_LIMITS": "true"}
    d = Daemon(b, env, name="daemon-ws")
    d.wait_state("connected")
    url = f"ws://127.0.0.1:{d.port}/v1/api/ws"

    def rss_kib():
        with open(f"/proc/{d.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def gateway_ws():
        return d.status()["gateway"]["websockets"]

    # Relay rate: every client reads as fast as it can on its own thread.
    stop_reading = threading.Event()
    received = [0] * clients_n
    sockets = []
    for i in range(clients_n):
        ws = websocket.create_connection(url, timeout=10)
        for c in range(conids):
            ws.send(f'smd+{265598 + c}+{{"fields":["31","84","86"]}}')
        sockets.append(ws)

    def read(i, ws):
        ws.settimeout(1)
        while not stop_reading.is_set():
            with contextlib.suppress(websocket.WebSocketTimeoutException):
                ws.recv()
                received[i] += 1

    readers = [threading.Thread(target=read, args=(i, ws), daemon=True) for i, ws in enumerate(sockets)]
    for t in readers:
        t.start()
    time.sleep(2)  # warm-up: every subscription flowing
    seconds = 10 if not b.args.quick else 3
    before, cpu0, t0 = gateway_ws(), cpu_ns(d.pid), time.monotonic()
    time.sleep(seconds)
    after, cpu1, t1 = gateway_ws(), cpu_ns(d.pid), time.monotonic()
    stop_reading.set()
    for t in readers:
        t.join(timeout=5)
    for ws in sockets:
        with contextlib.suppress(Exception):
            ws.close()
    relayed = (after["frames_to_clients"] - before["frames_to_clients"]) / (t1 - t0)
    upstream = relayed / clients_n
    cpu_per_frame_us = (cpu1 - cpu0) / 1e3 / max(after["frames_to_clients"] - before["frames_to_clients"], 1)
    cut = after.get("clients_cut_off", 0)
    note(f"relayed {relayed:.0f} frames/s to {clients_n} clients ({upstream:.0f}/s from IBKR's socket), "
         f"{cpu_per_frame_us:.2f} µs of the daemon's CPU per relayed frame; clients cut off: {cut}")
    b.row("8 WebSocket frames relayed", f"{relayed:,.0f}/s to {clients_n} clients",
          f"{upstream:,.0f}/s from one upstream socket", f"{cpu_per_frame_us:.2f} µs CPU/frame", "—")

    # Memory per open socket: idle clients, RSS before and after.
    time.sleep(1)
    base = rss_kib()
    idle = [websocket.create_connection(url, timeout=10) for _ in range(idle_n)]
    time.sleep(1)
    grown = rss_kib() - base
    note(f"{idle_n} idle WebSockets: daemon RSS {base / 1024:.1f} MiB -> {(base + grown) / 1024:.1f} MiB")
    b.row("8 memory per open WebSocket", f"{grown / idle_n:.1f} KiB", f"{idle_n} idle sockets, RSS +{grown / 1024:.1f} MiB",
          "—", "—")
    for ws in idle:
        with contextlib.suppress(Exception):
            ws.close()
    d.stop()
    sim.proc.terminate()


# --- 9. many users in one daemon (multi-user mode) ------------------------------------------------

class MultiUserDaemon:
    """A multi-user daemon on a database in `state` (kept across restarts), with its admin token."""

    def __init__(self, b, state, master_key, token, login_interval, name, extra=None):
        env = b.base_env()
        env.update({"ENABLE_MULTI_USER": "true", "SESSIOND_MASTER_KEY_FILE": master_key,
                    "SESSIOND_STATE_DIR": state, "SESSIOND_API_TOKEN": token, "SESSIOND_LISTEN": "127.0.0.1:0",
                    "HOME": b.work, "IBKR_BASE_URL": f"https://127.0.0.1:{b.many_sim.https_port}",
                    "IBKR_CA_FILE": b.many_sim.ca_file, "SESSIOND_DAEMON_LOGIN_INTERVAL": str(login_interval)})
        env.update(extra or {})
        self.token = token
        self.log_file = open(os.path.join(b.work, f"{name}.log"), "w")
        self.proc = spawn([DAEMON, "run"], cpu=CPUS.sut, env=env, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.log = LineLog(self.proc.stderr, self.log_file)
        _, _, m = self.log.wait_for(r"API listening on http://127\.0\.0\.1:(\d+)", timeout=30)
        self.port = int(m.group(1))

    def call(self, method, path, body=None, conn=None, token=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            if own:
                conn.close()

    def connected(self):
        code, body = self.call("GET", "/api/ibkr/status")
        if code != 200:
            raise BenchError(f"status answered {code}: {body[:300]!r}")
        return json.loads(body)["multi_user"]["by_state"].get("connected", 0)

    def stop(self, timeout=120):
        return stop(self.proc, timeout=timeout)


def many_user_id(i):
    return f"user-{i:05d}"


def many_account(i):
    return f"DU{i:07d}"


def add_many_users(d, first, last, pem, clients, threads=4):
    """Creates users first..last-1 with their credentials through the API (each proven against the sim)."""
    errors = []

    def work(k):
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        try:
            for i in range(first + k, last, threads):
                uid = many_user_id(i)
                code, body = d.call("PUT", f"/api/users/{uid}", conn=conn)
                if code not in (200, 201):
                    errors.append(f"PUT /api/users/{uid}: {code} {body[:200]!r}")
                    return
                cred = {"client_id": f"many-client-{i % clients}", "client_key_id": "main", "private_key": pem,
                        "credential": f"many-user-{i}", "account_id": many_account(i), "allowed_ip": "127.0.0.1",
                        "environment": "paper"}
                for attempt in range(20):
                    code, body = d.call("PUT", f"/api/users/{uid}/ibkr-credentials", cred, conn=conn)
                    if code != 503:
                        break
                    time.sleep(1)  # IBKR (the sim) limited the proof: Retry-After is seconds
                if code not in (200, 201):
                    errors.append(f"PUT credentials of {uid}: {code} {body[:200]!r}")
                    return
        finally:
            conn.close()

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise BenchError("adding users failed: " + "; ".join(errors[:3]))


def wait_all_connected(d, users, timeout, on_poll=None):
    """Seconds from now until every user's session is connected (polled every second)."""
    start = time.monotonic()
    while True:
        n = d.connected()
        if on_poll:
            on_poll(n)
        if n >= users:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise BenchError(f"{n} of {users} sessions connected after {timeout} s:\n{d.log.tail()}")
        time.sleep(1)


def settled_rss_kib(pid, seconds=5):
    time.sleep(seconds)
    return memory(pid).get("VmRSS", 0)


def start_many_user_sim(b, prefix, users):
    """ibkr-sim serving `users` users (as b.many_sim) and a master key; the number of OAuth clients they
    share (ibkr-sim, as IBKR, allows a client 10 token and SSO requests a second), the private key's
    PEM and the master key's file."""
    clients = max(1, users // 100)
    public_pem = subprocess.run(["openssl", "pkey", "-in", b.key, "-pubout"], check=True, capture_output=True,
                                text=True).stdout
    public_file = os.path.join(b.work, f"{prefix}-public.pem")
    with open(public_file, "w") as f:
        f.write(public_pem)
    users_file = os.path.join(b.work, f"{prefix}-users.json")
    with open(users_file, "w") as f:
        json.dump({"users": [{"client_id": f"many-client-{i % clients}", "key_id": "main",
                              "public_key_file": public_file, "username": f"many-user-{i}",
                              "accounts": [many_account(i)], "environment": "paper", "allowed_ip": "127.0.0.1"}
                             for i in range(users)]}, f)
    b.many_sim = Sim(b, name=f"{prefix}-sim", ca_file=os.path.join(b.work, f"{prefix}-sim-ca.pem"),
                     users_file=users_file)
    with open(b.key) as f:
        pem = f.read()
    master_key = os.path.join(b.work, f"{prefix}-master-key")
    with open(master_key, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(master_key, 0o400)
    return clients, pem, master_key


def fig_many_users(b):
    small, large = (100, 1000) if b.args.quick else (1000, b.args.many_users)
    interval = b.args.many_interval
    window = b.args.idle
    say(f"9. {large} users in one daemon: start-up at SESSIOND_DAEMON_LOGIN_INTERVAL={interval} s, memory per "
        f"session ({small} -> {large}), CPU and /livez p99 over a {window} s window of tickles every 60 s")
    clients, pem, master_key = start_many_user_sim(b, "many", large)
    state = tempfile.mkdtemp(prefix="many-state.", dir=b.work)
    token = "bench-admin-" + os.urandom(16).hex()
    fast = 0.01  # while the users are added: the measured starts use `interval`

    def run(users, name, keep_going):
        # The users' own login budgets must not hold the start: after a restart, a username's next login
        # waits until its newest is IBKR_HTTP_TIMEOUT + SESSIOND_LOGIN_MIN_INTERVAL (10 + 10 s) old.
        time.sleep(25)
        t0 = time.monotonic()  # from the spawn: opening the database and every credential count
        d = MultiUserDaemon(b, state, master_key, token, interval, name)
        wait_all_connected(d, users, timeout=users * interval * 3 + 120)
        took = time.monotonic() - t0
        rss = settled_rss_kib(d.pid)
        note(f"{users} users: all connected {took:.1f} s after the start "
             f"({users} x {interval} s = {users * interval:.0f} s of login slots); VmRSS {rss / 1024:.1f} MiB")
        if keep_going:
            return d, took, rss
        d.stop()
        return None, took, rss

    d = MultiUserDaemon(b, state, master_key, token, fast, "many-add-1")
    add_many_users(d, 0, small, pem, clients)
    wait_all_connected(d, small, timeout=small * fast * 5 + 120)
    d.stop()
    _, _, rss_small = run(small, "many-start-small", False)

    d = MultiUserDaemon(b, state, master_key, token, fast, "many-add-2")
    add_many_users(d, small, large, pem, clients)
    wait_all_connected(d, large, timeout=large * fast * 5 + 300)
    d.stop()
    d, startup, rss_large = run(large, "many-start-large", True)

    # Every session connected, tickling every 60 s: the daemon's CPU and /livez while they do.
    samples = []
    before = task_stats(d.pid)
    t_start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    while time.monotonic() - t_start < window:
        t = time.perf_counter_ns()
        conn.request("GET", "/livez")
        res = conn.getresponse()
        res.read()
        samples.append((time.perf_counter_ns() - t) / 1e6)
        if res.status != 200:
            raise BenchError(f"/livez answered {res.status}")
        time.sleep(0.02)
    conn.close()
    after = task_stats(d.pid)
    seconds = time.monotonic() - t_start
    still = d.connected()
    d.stop()
    stop(b.many_sim.proc)
    cpu_s = (after["run_ns"] - before["run_ns"]) / 1e9
    per_hour = cpu_s * 3600 / seconds
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1] if samples else float("nan")
    marginal = (rss_large - rss_small) / (large - small)
    note(f"CPU {cpu_s:.2f} s in {seconds:.0f} s with {still} of {large} connected ({100 * cpu_s / seconds:.1f}% of "
         f"one core; {per_hour:.0f} CPU s per hour); /livez {len(samples)} probes, median "
         f"{median(samples):.3f} ms, p99 {p99:.3f} ms, max {samples[-1]:.3f} ms")
    b.row(f"9 start-up, {large} users to all connected", f"{startup:.0f} s at {interval} s a login",
          f"{large} x {interval} s = {large * interval:.0f} s (the rate's floor); at the default 0.5 s: "
          f"{large * 0.5:.0f} s", "the login rate sets it", yes_no(startup < large * interval * 1.2 + 30))
    b.row(f"9 memory per session (marginal, {small} -> {large})", f"{marginal:.1f} KiB",
          f"RSS {rss_small / 1024:.1f} MiB at {small}, {rss_large / 1024:.1f} MiB at {large}", "< 20 KiB",
          yes_no(marginal < 20))
    b.row(f"9 CPU, {large} sessions tickling every 60 s ({seconds:.0f} s window)",
          f"{100 * cpu_s / seconds:.1f}% of one core ({per_hour:.0f} s an hour)", "—",
          "a small fraction of one core", yes_no(cpu_s / seconds < 0.1))
    b.row(f"9 /livez p99 while {large} sessions tickle", ms(p99), f"median {ms(median(samples))}", "< 5 ms",
          yes_no(p99 < 5))



class Postgres:
    """A throwaway PostgreSQL 15 cluster (Debian's postgresql-15) on a Unix socket in the work directory,
    run as the postgres user (initdb and the server refuse root); one database, `sessiond`."""

    BIN = "/usr/lib/postgresql/15/bin"

    def __init__(self, b):
        self.dir = tempfile.mkdtemp(prefix="pg.", dir=b.work)
        os.chmod(b.work, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        data = os.path.join(self.dir, "data")
        subprocess.run(as_pg + [f"{self.BIN}/initdb", "-D", data, "-U", "postgres", "-A", "trust"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log_file = open(os.path.join(b.work, "postgres.log"), "w")
        self.proc = spawn(as_pg + [f"{self.BIN}/postgres", "-D", data, "-k", self.dir, "-c", "listen_addresses=",
                                   "-c", "fsync=off", "-c", "track_counts=on"],
                          stdout=self.log_file, stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(os.path.join(self.dir, ".s.PGSQL.5432")):
                break
            time.sleep(0.1)
        self.sql("postgres", "CREATE USER sessiond")
        self.sql("postgres", "CREATE DATABASE sessiond OWNER sessiond")
        self.conninfo = f"postgresql://sessiond@/sessiond?host={self.dir}"

    def sql(self, database, statement):
        return subprocess.run(["psql", "-h", self.dir, "-U", "postgres", "-d", database, "-Atqc", statement],
                              check=True, capture_output=True, text=True).stdout.strip()

    def counters(self):
        """Transactions committed and rows updated in the sessiond database so far."""
        out = self.sql("postgres", "SELECT xact_commit, tup_updated FROM pg_stat_database WHERE datname = 'sessiond'")
        commits, updated = out.split("|")
        return int(commits), int(updated)

    def stop(self):
        stop(self.proc)


def fig_replicas(b):
    users = b.args.replica_users
    runs = 2 if b.args.quick else 3
    say(f"10. replicas on PostgreSQL, {users} users: failover by cause (SIGKILL, SIGSTOP past the lease, the "
        f"database lost) over {runs} runs each, the claim of {users} users by three replicas, and what the "
        f"renewals cost the database")
    pg = Postgres(b)
    clients, pem, master_key = start_many_user_sim(b, "replica", users)
    token = "bench-admin-" + os.urandom(16).hex()
    interval = 0.5  # SESSIOND_DAEMON_LOGIN_INTERVAL's default: a take-over's logins go at the default rate

    def replica(rid, login_interval=interval):
        state = tempfile.mkdtemp(prefix=f"replica-{rid}.", dir=b.work)
        return MultiUserDaemon(b, state, master_key, token, login_interval, f"replica-{rid}",
                               extra={"SESSIOND_DATABASE": pg.conninfo, "SESSIOND_REPLICA_ID": rid})

    def census(d):
        code, body = d.call("GET", "/api/replicas")
        if code != 200:
            raise BenchError(f"/api/replicas answered {code}: {body[:300]!r}")
        return json.loads(body)

    def wait_until(what, check, timeout, poll=0.1):
        start = time.monotonic()
        while not check():
            if time.monotonic() - start > timeout:
                raise BenchError(f"{what}: not after {timeout} s")
            time.sleep(poll)
        return time.monotonic() - start

    def balanced(ds):
        share = -(-users // len(ds))
        return wait_until("a balanced split, every session connected",
                          lambda: sum(d.connected() for d in ds) >= users and
                          all(d.connected() >= users // len(ds) for d in ds) and
                          all(d.connected() <= share for d in ds), timeout=max(300, users * 0.05), poll=0.5)

    # The users, added through the first replica (each credential proven against the sim).
    a = replica("a", 0.01)
    add_many_users(a, 0, users, pem, clients)
    wait_until("every user connected on a", lambda: a.connected() >= users, timeout=users * 0.05 + 120, poll=0.5)
    a.stop()

    # Failover is timed with few users: with many, a take-over is mostly its logins at the login
    # rate (users / 2 of them, 0.5 s apart), which says nothing of the leases. Many users measure the
    # renewals and the claim, with a fast login rate so that the sessions are up sooner.
    many = users > 200
    if many:
        note(f"replicas: {users} users: failover not timed (it is {users // 2} logins at the login rate); "
             f"the renewals and the claim are")
        a, r = replica("a", 0.01), replica("b", 0.01)
    else:
        a, r = replica("a"), replica("b")
    balanced([a, r])
    causes = {"SIGKILL": [], "SIGSTOP past the lease": [], "the database lost, then back": []}
    name = "a"
    for run in range(0 if many else runs):
        # Killed: from the kill to every user connected on the survivor.
        t0 = time.monotonic()
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait()
        wait_until("every user on the survivor", lambda: r.connected() >= users, timeout=180, poll=0.1)
        causes["SIGKILL"].append(time.monotonic() - t0)
        name = f"a{run}"
        a = replica(name)
        balanced([a, r])
        # Stalled: from the SIGSTOP to every user connected on the other.
        t0 = time.monotonic()
        os.kill(a.pid, signal.SIGSTOP)
        wait_until("every user on the other", lambda: r.connected() >= users, timeout=180, poll=0.1)
        causes["SIGSTOP past the lease"].append(time.monotonic() - t0)
        os.kill(a.pid, signal.SIGCONT)
        balanced([a, r])
        # The database lost until both replicas self-fenced, then back: from its return to all connected.
        pg.sql("postgres", "ALTER DATABASE sessiond ALLOW_CONNECTIONS false")
        pg.sql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'sessiond'")
        wait_until("both replicas self-fenced", lambda: a.connected() + r.connected() == 0, timeout=120, poll=0.2)
        t0 = time.monotonic()
        pg.sql("postgres", "ALTER DATABASE sessiond ALLOW_CONNECTIONS true")
        wait_until("every user connected again", lambda: a.connected() + r.connected() >= users, timeout=300,
                   poll=0.1)
        causes["the database lost, then back"].append(time.monotonic() - t0)
        balanced([a, r])
    overlaps = b.many_sim.control("/control/overlaps")
    note(f"replicas: ibkr-sim recorded {overlaps.get('count')} overlap(s) over every failover")
    bound = 30 + 5
    for cause, times in causes.items() if not many else []:
        b.row(f"10 failover, {cause} ({users} users, {runs} runs)",
              f"median {median(times):.1f} s, max {max(times):.1f} s",
              f"lease 30 s + claim round 5 s = {bound} s, + {users // 2} logins {interval} s apart",
              "< 45 s" if cause != "the database lost, then back" else "all connected again",
              yes_no(max(times) < 45 + users // 2 * interval) if cause != "the database lost, then back" else "—")

    # The renewals' cost: two replicas holding every user, over a minute.
    c0, u0 = pg.counters()
    t0 = time.monotonic()
    time.sleep(60)
    c1, u1 = pg.counters()
    seconds = time.monotonic() - t0
    b.row(f"10 database load, 2 replicas renewing {users} leases", f"{(c1 - c0) / seconds:.1f} transactions/s, "
          f"{(u1 - u0) / seconds:.0f} rows updated/s", "per replica: a renewal and a claim round every 5 s",
          "grows with the users only as rows", "—")
    a.stop()
    r.stop()

    # The claim: three replicas started together on users none holds; from the start to a balanced split
    # of the leases (the sessions then log in at the login rate).
    pg.sql("sessiond", "UPDATE leases SET holder = NULL, expires_ms = 0")
    t0 = time.monotonic()
    three = [replica(f"c{i}", 0.01 if many else interval) for i in range(3)]

    # Balanced by the fair-share rule: none above ceil(users / 3) (the last one takes what is left).
    share = -(-users // 3)

    def split():
        held = [rr["users"] for rr in census(three[0])["replicas"] if rr["live"] and rr["id"].startswith("c")]
        return len(held) == 3 and sum(held) == users and max(held) <= share

    wait_until("a balanced split of the leases", split, timeout=max(120, users * 0.02), poll=0.1 if users <= 200 else 1)
    took = time.monotonic() - t0
    rounds = -(-share // 500) + 1  # 500 a claim round, 5 s apart; the first round sees one replica
    b.row(f"10 claim, {users} users by 3 replicas", f"{took:.1f} s to a balanced split",
          "from the three starts", f"{rounds} claim rounds (500 users a round) + 5 s", yes_no(took < rounds * 5 + 5))
    for d in three:
        d.stop()
    stop(b.many_sim.proc)
    pg.stop()

def fig_page(b):
    """Figure 11: the web UI's page weight and first render, in headless Chromium (bench/page.mjs, which
    starts its own ibkr-sim, daemon and static-server reference, pins them itself and stops them)."""
    say("11. the web UI: page weight and first render (bench/page.mjs, headless Chromium)")
    node = shutil.which("node")
    if not node:
        raise BenchError("node is missing (bash deploy/install-deps.sh --browser; bench/run.sh does it)")
    loads = 5 if b.args.quick else 20
    out = os.path.join(b.work, "page.json")
    # Started with every CPU allowed (the driver runs on one): page.mjs pins the daemon and the static
    # server to the first CPU and itself, ibkr-sim and Chromium to the second, as this driver does.
    p = spawn([node, os.path.join(ROOT, "bench", "page.mjs"), "--bin", BIN, "--loads", str(loads), "--json", out],
              preexec_fn=lambda: os.sched_setaffinity(0, ALL_CPUS))
    try:
        rc = p.wait(timeout=600)
    except subprocess.TimeoutExpired:
        stop(p)
        raise BenchError("bench/page.mjs did not finish within 600 s")
    if rc != 0 or not os.path.exists(out):
        raise BenchError(f"bench/page.mjs exited {rc}")
    with open(out) as f:
        r = json.load(f)
    d, ref = r["results"]["daemon"], r["results"]["reference"]
    by = d["bytes"]
    kib = by["total"] / 1024
    b.row("11 page weight: HTML + CSS + JS, uncompressed",
          f"{kib:.1f} KiB (HTML {by['html'] / 1024:.1f}, CSS {by['css'] / 1024:.1f}, JS {by['js'] / 1024:.1f})",
          f"static server: {ref['bytes']['total'] / 1024:.1f} KiB (the same files)", f"< {r['budget_kib']} KiB",
          yes_no(kib < r["budget_kib"]))
    for key, what in (("fcp_ms", "first contentful paint"), ("first_status_ms", "first status rendered")):
        dm, rm = d[key], ref[key]
        b.row(f"11 {what} (median of {d['loads']} loads)", f"median {dm['median']:.1f} ms, max {dm['max']:.1f} ms",
              f"static server + stub status: median {rm['median']:.1f} ms, max {rm['max']:.1f} ms",
              f"< {r['target_ms']} ms; x{dm['median'] / rm['median']:.2f} of the reference",
              yes_no(dm["median"] < r["target_ms"]))


def table(b):
    lines = ["| figure | daemon | reference | ratio / target | met? |", "|---|---|---|---|---|"]
    for r in b.rows:
        lines.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short points, fewer starts (a smoke run)")
    parser.add_argument("--long", action="store_true", help="idle figures over the full ten minutes")
    parser.add_argument("--only", default="6,3,1,2,4,5,7,8,9,11",
                        help="figures to run, in order (default 6,3,1,2,4,5,7,8,9,11)")
    parser.add_argument("--many-users", type=int, default=10000, help="figure 9: users in the daemon (default 10000)")
    parser.add_argument("--replica-users", type=int, default=20,
                        help="figure 10: users shared by the replicas (default 20)")
    parser.add_argument("--many-interval", type=float, default=0.05,
                        help="figure 9: SESSIOND_DAEMON_LOGIN_INTERVAL of the measured starts (default 0.05 s)")
    parser.add_argument("--out", help="also write the final table (markdown) to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, perf data)")
    parser.add_argument("--boost", action="store_true",
                        help="run what is measured (and wrk, ibkr-sim) at nice -10: steadier latency on a shared "
                             "machine, at the expense of everything else running there")
    args = parser.parse_args()
    args.slice, args.slices = (1, 1) if args.quick else (2, 3)  # figure 1: wrk runs per point
    args.stress_slice, args.stress_slices = (1, 1) if args.quick else (3, 7)  # figure 2: seconds per point, rounds
    args.starts = 5 if args.quick else 20
    args.recoveries = 3 if args.quick else 8
    args.idle = 600 if args.long else (30 if args.quick else 120)

    for tool in ("wrk", "nginx", "openssl", "strip"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} is missing (bash bench/run.sh installs it)")
    for path in (DAEMON, SIM):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"bench: {path} is missing (bash deploy/build.sh release)")

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if CPUS.pinned:
        os.sched_setaffinity(0, CPUS.driver)
    if args.boost:
        BOOST["nice"] = -10

    started = time.monotonic()
    b = None
    try:
        b = Bench(args)
        print(f"ibkr-sessiond benchmarks, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
              f"{os.cpu_count()} CPUs ({CPUS.describe()}); "
              f"{'measured processes at nice -10 (--boost)' if args.boost else 'default priority'}; "
              f"load average {os.getloadavg()[0]:.2f}")
        figures = {"1": fig_throughput, "2": fig_stress, "3": fig_time_to_connected, "4": fig_recovery,
                   "5": fig_idle, "6": fig_startup, "7": fig_gateway, "8": fig_websocket, "9": fig_many_users,
                   "10": fig_replicas, "11": fig_page}
        for f in args.only.split(","):
            figures[f.strip()](b)
        say(f"results ({time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f})")
        text = table(b)
        print(text)
        for n in b.notes:
            print(f"\nnote: {n}")
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if b is not None:
            b.cleanup()
        else:
            stop_all_children()


if __name__ == "__main__":
    main()
