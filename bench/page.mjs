#!/usr/bin/env node
// Figure 11 of bench/README.md: the web UI's page weight and first render (issue 14's budget: HTML + CSS
// + JS under 60 KiB uncompressed, first render under 100 ms on loopback). A benchmark, not a test: it
// prints numbers and exits 0 whether the budget is met or not (non-zero only when the run could not
// complete).
//
//   node bench/page.mjs [--bin build/release/daemon] [--loads 20] [--json FILE] [--keep] [--no-pin]
//
// Starts ibkr-sim and ibkr-sessiond from --bin (tests/browser/lib/processes.mjs), waits for the session
// to connect, then loads http://127.0.0.1:PORT/ in Debian's headless Chromium (tests/browser/lib/
// browser.mjs) --loads times, each in a fresh browser context (an empty cache: every load transfers
// every file). Reference, in the same run, loads alternating (the order flips every round): the same
// bytes, fetched from the daemon at the start, served by a minimal static server (node's http module,
// a child process) with a stub /api/ibkr/status answering the daemon's own connected JSON and
// /api/ibkr/events answering 404 (the page then polls), so that the page's own cost is separated from
// the daemon's. One warm-up load per side is not counted.
//
// Pinning (two CPUs or more, as bench.py): CPU 0 runs what differs between the two sides (the daemon,
// the static server), CPU 1 everything else (Chromium, ibkr-sim, this driver). Every process started
// here is stopped by its PID at exit, on SIGINT/SIGTERM too; Chromium by playwright (browser.close(),
// and playwright's own exit handler).
//
// Internal: `node bench/page.mjs --reference-server DIR` is the reference (prints {"port":N}).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const BUDGET_KIB = 60;
const TARGET_MS = 100;

// ---------------------------------------------------------------------------------------------
// The reference: a static server of the files in DIR (manifest.json: url path -> file, content type).

function referenceServer(dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const files = new Map(Object.entries(manifest.files).map(([p, f]) => [p, { body: fs.readFileSync(path.join(dir, f.file)), type: f.type }]));
  const status = fs.readFileSync(path.join(dir, 'status.json'));
  const server = http.createServer((req, res) => {
    const p = req.url.split('?')[0];
    const f = req.method === 'GET' ? files.get(p) : undefined;
    if (f) {
      res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.body.length });
      res.end(f.body);
    } else if (req.method === 'GET' && p === '/api/ibkr/status') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': status.length });
      res.end(status);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
      res.end('not found\n');
    }
  });
  server.keepAliveTimeout = 5000;
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------

function usage(msg) {
  console.error(`page.mjs: ${msg}\nusage: node bench/page.mjs [--bin DIR] [--loads N] [--json FILE] [--keep] [--no-pin]`);
  process.exit(64);
}

function parseArgs(argv) {
  const o = { bin: path.join(root, 'build', 'release', 'daemon'), loads: 20, json: null, keep: false, pin: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--bin') o.bin = path.resolve(value());
    else if (a === '--loads') o.loads = Number(value());
    else if (a === '--json') o.json = path.resolve(value());
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-pin') o.pin = false;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.loads) || o.loads < 1) usage('--loads needs a positive integer');
  for (const b of ['ibkr-sessiond', 'ibkr-sim']) {
    if (!fs.existsSync(path.join(o.bin, b))) usage(`no ${b} in ${o.bin} (bash bench/run.sh builds build/release; or --bin)`);
  }
  return o;
}

// The CPUs this process may use (/proc/self/status), and `taskset -a -cp` (every thread of PID).
function allowedCpus() {
  const line = fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m);
  const cpus = [];
  for (const part of (line ? line[1] : '0').split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) cpus.push(c);
  }
  return cpus;
}

function pin(pid, cpu) {
  const r = spawnSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) throw new Error(`taskset -a -cp ${cpu} ${pid}: ${r.stderr || r.error}`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const msf = (x) => `${x.toFixed(1)} ms`;

// Installed in every page before its own scripts (through the DevTools protocol, which the page's CSP
// does not govern): the time, on the page's clock (performance.now(): from the navigation's start),
// at which #connection-state first gets a non-empty data-state (the page sets it from the status).
function observeFirstStatus() {
  const seen = () => {
    const el = document.getElementById('connection-state');
    if (el && el.getAttribute('data-state') && window.__firstStatusMs === undefined) {
      window.__firstStatusMs = performance.now();
      return true;
    }
    return false;
  };
  const mo = new MutationObserver(() => { if (seen()) mo.disconnect(); });
  // And when the page's first status call resolves in the page (its headers), to split the wait.
  const fetch0 = window.fetch;
  window.fetch = function (input, ...rest) {
    const p = fetch0.call(this, input, ...rest);
    if (String(input && input.url ? input.url : input).includes('api/ibkr/status') && window.__statusFetchMs === undefined) {
      p.then(() => { if (window.__statusFetchMs === undefined) window.__statusFetchMs = performance.now(); }, () => {});
    }
    return p;
  };
  mo.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const pkg of ['playwright-core', 'axe-core']) {
    if (!fs.existsSync(path.join(root, 'tests', 'browser', 'node_modules', pkg, 'package.json'))) {
      console.error(`page.mjs: ${pkg} is missing: npm ci --prefix tests/browser --ignore-scripts (bench/run.sh does it)`);
      process.exit(1);
    }
  }
  const procs = await import('../tests/browser/lib/processes.mjs');
  const { launch, VIEWPORT } = await import('../tests/browser/lib/browser.mjs');
  const { Proc, stopAll, killAllNow, startSim, startDaemon, daemonEnv, generateKey } = procs;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-sessiond-bench-page.'));
  const keyFile = path.join(dir, 'key.pem');
  let browser = null;
  let stopping = false;
  const cleanup = async () => {
    if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 10000))]);
    browser = null;
    await stopAll();
    fs.rmSync(keyFile, { force: true });  // the throw-away key goes, --keep or not
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, async () => {
      if (stopping) return;
      stopping = true;
      console.error(`page.mjs: ${sig}: stopping the processes it started`);
      await cleanup();
      process.exit(130);
    });
  }
  // Last resort, also when playwright's own SIGINT handler ends the process first (it closes Chromium,
  // then exits 130): SIGKILL what is left by PID, and the files, synchronously.
  process.on('exit', () => {
    killAllNow();
    fs.rmSync(keyFile, { force: true });
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  });

  const cpus = allowedCpus();
  const pinned = opts.pin && cpus.length >= 2;
  const [sut, other] = pinned ? [cpus[0], cpus[1]] : [null, null];
  // This driver and what it starts from now on (ibkr-sim, Chromium) on the second CPU; the daemon and
  // the static server are moved to the first once started.
  if (pinned) pin(process.pid, other);

  try {
    generateKey(keyFile);
    const sim = await startSim(opts.bin, dir, { keyFile, artifacts: dir });
    // The daemon as tests/browser starts it, but with the default tickle interval (60 s, not 1 s):
    // nothing but the page's requests during the loads.
    const env = daemonEnv(sim, dir, { keyFile, extra: { IBKR_TICKLE_INTERVAL: null } });
    const d = await startDaemon(opts.bin, dir, env, { artifacts: dir });
    if (pinned) pin(d.proc.pid, sut);
    await d.proc.waitFor('stderr', 'session connected', 30000, '"session connected"');

    // The daemon's own answers: the status JSON (connected) and the files the page loads.
    const status = await d.api('GET', '/api/ibkr/status');
    if (status.status !== 200 || !status.json) throw new Error(`GET /api/ibkr/status: ${status.status} ${status.text.slice(0, 200)}`);
    const ref = path.join(dir, 'reference');
    fs.mkdirSync(ref);
    fs.writeFileSync(path.join(ref, 'status.json'), status.text);
    const index = await d.api('GET', '/');
    if (index.status !== 200 || !(index.headers.get('content-type') || '').startsWith('text/html')) {
      throw new Error(`GET / on the daemon: ${index.status} ${index.headers.get('content-type')}: does this build embed web/?`);
    }
    const files = { '/': { file: 'index.html', type: index.headers.get('content-type') } };
    fs.writeFileSync(path.join(ref, 'index.html'), index.text);
    for (const m of index.text.matchAll(/(?:href|src)="([\w./-]+)"/g)) {
      const url = '/' + m[1].replace(/^\.?\//, '');
      if (files[url] || url.startsWith('//')) continue;
      const r = await fetch(d.base + url, { signal: AbortSignal.timeout(10000) });
      if (r.status !== 200) continue;  // an in-page anchor or a link the daemon does not serve
      const name = `f${Object.keys(files).length}${path.extname(url)}`;
      fs.writeFileSync(path.join(ref, name), Buffer.from(await r.arrayBuffer()));
      files[url] = { file: name, type: r.headers.get('content-type') || 'application/octet-stream' };
    }
    fs.writeFileSync(path.join(ref, 'manifest.json'), JSON.stringify({ files }));
    const server = new Proc('reference-server', [process.execPath, fileURLToPath(import.meta.url), '--reference-server', ref],
      { env: { PATH: process.env.PATH }, cwd: dir, logFile: path.join(dir, 'reference-server.log') });
    const port = Number((await server.waitFor('stdout', /\{"port":(\d+)\}/, 10000, 'the port line'))[1]);
    if (pinned) pin(server.pid, sut);

    browser = await launch();
    const sides = {
      daemon: { url: `${d.base}/`, label: 'ibkr-sessiond', loads: [] },
      reference: { url: `http://127.0.0.1:${port}/`, label: 'static server (node http), stub status', loads: [] },
    };
    console.log(`page.mjs: Chromium ${browser.version()}, ${opts.loads} loads a side (+1 warm-up), ` +
      `${pinned ? `CPU ${sut}: the daemon / the static server; CPU ${other}: Chromium, ibkr-sim, this driver` : (cpus.length >= 2 ? 'nothing pinned (--no-pin)' : 'one CPU: nothing pinned')}; ` +
      `load average ${os.loadavg()[0].toFixed(2)}; files ${Object.keys(files).join(' ')}; work dir ${dir}`);

    const loadOnce = async (side) => {
      const context = await browser.newContext({ viewport: VIEWPORT });
      try {
        await context.addInitScript(observeFirstStatus);
        const page = await context.newPage();
        const res = await page.goto(side.url, { waitUntil: 'load', timeout: 15000 });
        if (!res || res.status() !== 200) throw new Error(`GET ${side.url}: ${res ? res.status() : 'no response'}`);
        await page.waitForFunction(() => window.__firstStatusMs !== undefined
          && performance.getEntriesByType('paint').some((e) => e.name === 'first-contentful-paint'), null, { timeout: 10000 });
        return await page.evaluate(() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const entry = (e) => ({ name: e.name, initiatorType: e.initiatorType, transferSize: e.transferSize,
            encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize, startTime: e.startTime, responseEnd: e.responseEnd });
          return {
            fcp: performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint').startTime,
            firstStatus: window.__firstStatusMs,
            statusFetch: window.__statusFetchMs,
            state: document.getElementById('connection-state').getAttribute('data-state'),
            nav: entry(nav),
            domContentLoaded: nav.domContentLoadedEventEnd,
            load: nav.loadEventEnd,
            resources: performance.getEntriesByType('resource').map(entry),
          };
        });
      } finally {
        await context.close();
      }
    };

    for (const side of Object.values(sides)) await loadOnce(side);  // warm-up, not counted
    for (let i = 0; i < opts.loads; i++) {
      const order = i % 2 ? [sides.reference, sides.daemon] : [sides.daemon, sides.reference];
      for (const side of order) side.loads.push(await loadOnce(side));
    }

    // Bytes per kind, from each load's Resource Timing (body bytes as decoded: uncompressed).
    const results = {};
    for (const [key, side] of Object.entries(sides)) {
      const perLoad = side.loads.map((l) => {
        const b = { html: l.nav.decodedBodySize, css: 0, js: 0, other: 0, wire: l.nav.encodedBodySize, cached: l.nav.transferSize === 0 ? 1 : 0 };
        for (const r of l.resources) {
          const p = new URL(r.name).pathname;
          if (p.startsWith('/api/')) continue;  // the status calls: data, not page weight
          const kind = p.endsWith('.css') ? 'css' : p.endsWith('.js') || p.endsWith('.mjs') ? 'js' : 'other';
          b[kind] += r.decodedBodySize;
          b.wire += r.encodedBodySize;
          if (r.transferSize === 0) b.cached += 1;
        }
        return b;
      });
      const last = perLoad[perLoad.length - 1];
      const sameEveryLoad = perLoad.every((b) => b.html === last.html && b.css === last.css && b.js === last.js);
      const fcp = side.loads.map((l) => l.fcp);
      // Where the time goes (medians, ms from the navigation's start): the HTML's last byte, app.js's
      // last byte, DOMContentLoaded (app.js has run), the first status call's start and last byte.
      const at = (f) => median(side.loads.map(f).filter((x) => x !== undefined));
      const firstOf = (l, pred) => l.resources.filter((r) => pred(new URL(r.name).pathname)).sort((a, b) => a.startTime - b.startTime)[0];
      const steps = {
        html_end: at((l) => l.nav.responseEnd),
        js_end: at((l) => firstOf(l, (p) => p.endsWith('.js'))?.responseEnd),
        dom_content_loaded: at((l) => l.domContentLoaded),
        status_start: at((l) => firstOf(l, (p) => p === '/api/ibkr/status')?.startTime),
        status_end: at((l) => firstOf(l, (p) => p === '/api/ibkr/status')?.responseEnd),
        status_in_page: at((l) => l.statusFetch),
        load: at((l) => l.load),
      };
      const first = side.loads.map((l) => l.firstStatus);
      results[key] = {
        label: side.label,
        loads: side.loads.length,
        bytes: { html: last.html, css: last.css, js: last.js, other: last.other, total: last.html + last.css + last.js, wire: last.wire },
        same_bytes_every_load: sameEveryLoad,
        loads_with_a_cached_file: perLoad.filter((b) => b.cached).length,
        states: [...new Set(side.loads.map((l) => l.state))],
        steps_ms: steps,
        fcp_ms: { median: median(fcp), max: Math.max(...fcp), all: fcp },
        first_status_ms: { median: median(first), max: Math.max(...first), all: first },
      };
    }

    const out = {
      chromium: browser.version(), loads: opts.loads, pinned, budget_kib: BUDGET_KIB, target_ms: TARGET_MS,
      load_average: os.loadavg()[0], files: Object.keys(files), results,
    };
    const header = '| side | HTML | CSS | JS | HTML + CSS + JS (budget < 60 KiB) | first contentful paint, median / max | ' +
      'first status rendered, median / max (target < 100 ms) | met? |';
    const rows = [header, '|---|---|---|---|---|---|---|---|'];
    for (const r of Object.values(results)) {
      const met = r.bytes.total < BUDGET_KIB * 1024 && r.fcp_ms.median < TARGET_MS && r.first_status_ms.median < TARGET_MS;
      rows.push(`| ${r.label} (${r.loads} loads) | ${r.bytes.html} B | ${r.bytes.css} B | ${r.bytes.js} B | ${kib(r.bytes.total)} | ` +
        `${msf(r.fcp_ms.median)} / ${msf(r.fcp_ms.max)} | ${msf(r.first_status_ms.median)} / ${msf(r.first_status_ms.max)} | ${met ? 'yes' : '**no**'} |`);
    }
    console.log('\n' + rows.join('\n') + '\n');
    for (const r of Object.values(results)) {
      const odd = [];
      if (!r.same_bytes_every_load) odd.push('the bytes differed between loads');
      if (r.loads_with_a_cached_file) odd.push(`${r.loads_with_a_cached_file} load(s) took a file from a cache`);
      if (r.bytes.wire !== r.bytes.html + r.bytes.css + r.bytes.js + r.bytes.other) odd.push(`compressed on the wire: ${r.bytes.wire} B`);
      if (r.states.length !== 1 || r.states[0] !== 'connected') odd.push(`states shown: ${r.states.join(', ')}`);
      const s = r.steps_ms;
      console.log(`page.mjs: ${r.label}: medians from the navigation's start: HTML received ${msf(s.html_end)}, ` +
        `JS received ${msf(s.js_end)}, DOMContentLoaded ${msf(s.dom_content_loaded)}, status call ${msf(s.status_start)} to ` +
        `${msf(s.status_end)} (its fetch resolved in the page ${msf(s.status_in_page)}), first status rendered ${msf(r.first_status_ms.median)}, load ${msf(s.load)}`);
      console.log(`page.mjs: ${r.label}: other static files ${r.bytes.other} B (not in the budget); ` +
        (odd.length ? odd.join('; ') : 'every load transferred every file, uncompressed; the page showed "connected"'));
    }
    if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(out, null, 2) + '\n');
  } catch (e) {
    console.error(`page.mjs: ${e.stack || e}`);
    process.exitCode = 1;
  } finally {
    if (!stopping) await cleanup();
  }
}

// Last, once every declaration above is initialised.
if (process.argv[2] === '--reference-server') {
  referenceServer(process.argv[3]);
} else {
  await main();
}
