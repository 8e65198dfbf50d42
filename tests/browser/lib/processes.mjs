// The processes a browser scenario starts: ibkr-sim and ibkr-sessiond from the build directory,
// configured as deploy/demo.sh and tests/integration/ do. Every process started here is recorded and
// stopped by its PID (SIGTERM, then SIGKILL) in stopAll(), which run.mjs calls in `finally` and on
// SIGINT/SIGTERM. Every wait is bounded and awaits an event (a line of output, an exit).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

const started = new Set();

export class Proc {
  constructor(name, argv, { env, cwd, logFile }) {
    this.name = name;
    this.out = '';
    this.err = '';
    this.exited = null;
    this.logFile = logFile;
    this.listeners = new Set();
    this.child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    started.add(this);
    const log = logFile ? fs.createWriteStream(logFile) : null;
    this.logStream = log;
    for (const [stream, key] of [[this.child.stdout, 'out'], [this.child.stderr, 'err']]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        this[key] += chunk;
        if (log) log.write(chunk);
        for (const l of this.listeners) l();
      });
    }
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        started.delete(this);
        for (const l of this.listeners) l();
        resolve(this.exited);
      });
      this.child.on('error', (e) => {
        this.exited = { code: null, signal: null, error: e };
        started.delete(this);
        for (const l of this.listeners) l();
        resolve(this.exited);
      });
    });
  }

  // Resolves with the match of `pattern` in the stream's text once it appears; rejects when the
  // process exits first or after timeoutMs, naming what was awaited and the output's tail.
  waitFor(stream, pattern, timeoutMs, what = String(pattern), from = 0) {
    const key = stream === 'stdout' ? 'out' : 'err';
    return new Promise((resolve, reject) => {
      const check = () => {
        const text = this[key].slice(from);
        const m = typeof pattern === 'string' ? (text.includes(pattern) ? [pattern] : null) : text.match(pattern);
        if (m) return done(null, m);
        if (this.exited) return done(new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before ${what}\n${this.tail()}`));
      };
      const timer = setTimeout(() => done(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
      const done = (err, m) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        err ? reject(err) : resolve(m);
      };
      this.listeners.add(check);
      check();
    });
  }

  tail(n = 30) {
    return (this.out + this.err).split('\n').slice(-n).map((l) => `    | ${l}`).join('\n');
  }

  async stop(timeoutMs = 10000) {
    if (this.exited) return this.exited;
    try { process.kill(this.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = new Promise((r) => setTimeout(r, timeoutMs, 'timeout'));
    if ((await Promise.race([this.exitPromise, t])) === 'timeout') {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.race([this.exitPromise, new Promise((r) => setTimeout(r, 5000))]);
    }
    return this.exited;
  }
}

export async function stopAll() {
  await Promise.all([...started].map((p) => p.stop()));
}

// Synchronous last resort (process 'exit'): SIGKILL what is still running, by PID.
export function killAllNow() {
  for (const p of started) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export function makeWorkDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sessiond-browser-'));
}

export function generateKey(file) {
  const r = spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file],
    { timeout: 60000, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl genpkey failed: ${r.stderr || r.error}`);
  fs.chmodSync(file, 0o600);
  return fs.readFileSync(file, 'utf8');
}

export function writeEnvFile(file, vars) {
  fs.writeFileSync(file, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
}

export function randomToken(prefix) {
  return `${prefix}-${crypto.randomBytes(16).toString('hex')}`;
}

// The single simulated IBKR user of deploy/demo.sh.
export const simUser = {
  IBKR_CLIENT_ID: 'demo-client',
  IBKR_CLIENT_KEY_ID: 'main',
  IBKR_CREDENTIAL: 'demouser',
  IBKR_ACCOUNT_ID: 'DU1234567',
  IBKR_ALLOWED_IP: '127.0.0.1',
  IBKR_ENV: 'paper',
};

// ibkr-sim: { proc, httpsPort, controlPort, caFile, control(method, path, body) }.
// `single`: { keyFile } (an env file like demo.sh's), or `usersFile` for --users.
export async function startSim(bin, dir, { keyFile, usersFile, artifacts }) {
  const caFile = path.join(dir, 'sim-ca.pem');
  const argv = [path.join(bin, 'ibkr-sim'), '--ca-out', caFile, '--tickle-min-interval', '1', '--validate-min-interval', '1'];
  if (usersFile) {
    argv.push('--users', usersFile);
  } else {
    const envFile = path.join(dir, 'sim.env');
    writeEnvFile(envFile, { ...simUser, IBKR_PRIVATE_KEY_FILE: keyFile });
    argv.push('--env-file', envFile);
  }
  const proc = new Proc('ibkr-sim', argv, {
    env: { PATH: process.env.PATH, HOME: dir }, cwd: dir, logFile: artifacts && path.join(artifacts, 'sim.log'),
  });
  const m = await proc.waitFor('stdout', /^\{.*"ready":true.*\}$/m, 20000, 'ready line on stdout');
  const ready = JSON.parse(m[0]);
  const controlBase = `http://127.0.0.1:${ready.control_port}`;
  return {
    proc,
    httpsPort: ready.https_port,
    controlPort: ready.control_port,
    caFile,
    async control(method, p, body) {
      const r = await fetch(controlBase + p, {
        method, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10000),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`ibkr-sim ${method} ${p} -> ${r.status}: ${text}`);
      return text ? JSON.parse(text) : null;
    },
  };
}

// The daemon's settings against `sim` (tests/support/daemon_process.cpp's, for test speed).
export function daemonEnv(sim, dir, { keyFile, apiToken, extra = {} } = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    ...simUser,
    IBKR_PRIVATE_KEY_FILE: keyFile,
    IBKR_BASE_URL: `https://127.0.0.1:${sim.httpsPort}`,
    IBKR_CA_FILE: sim.caFile,
    IBKR_TICKLE_INTERVAL: '1',
    IBKR_INIT_SETTLE: '0',
    IBKR_HTTP_TIMEOUT: '2',
    SESSIOND_BACKOFF_INITIAL: '0.2',
    SESSIOND_BACKOFF_MAX: '1',
    IBKR_PACE_TICKLE: '1',
    IBKR_PACE_VALIDATE: '1',
    SESSIOND_LISTEN: '127.0.0.1:0',
    SESSIOND_LOGIN_MIN_INTERVAL: '0',
    SESSIOND_LOGINS_PER_HOUR: '1000',
    SESSIOND_DAEMON_LOGIN_INTERVAL: '0',
    IBKR_REGION: 'none',
    SESSIOND_SIMULATOR_LIMITS: 'true',
    SESSIOND_STATE_DIR: path.join(dir, 'state'),
  };
  if (apiToken) env.SESSIOND_API_TOKEN = apiToken;
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  return env;
}

// ibkr-sessiond run: { proc, port, base, api(method, path, {token, body}) }.
export async function startDaemon(bin, dir, env, { name = 'ibkr-sessiond', artifacts } = {}) {
  const proc = new Proc(name, [path.join(bin, 'ibkr-sessiond'), 'run', '--log-level', 'debug'], {
    env, cwd: dir, logFile: artifacts && path.join(artifacts, `${name}.log`),
  });
  const m = await proc.waitFor('stderr', /API listening on http:\/\/127\.0\.0\.1:(\d+)/, 20000, '"API listening on http://127.0.0.1:PORT"');
  const port = Number(m[1]);
  const base = `http://127.0.0.1:${port}`;
  return {
    proc, port, base, env,
    async api(method, p, { token, body } = {}) {
      const headers = {};
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const r = await fetch(base + p, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30000),
      });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, headers: r.headers, text, json };
    },
  };
}
