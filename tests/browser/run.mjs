#!/usr/bin/env node
// The browser tests of issue 14: the daemon's web UI in Debian's headless Chromium (playwright-core,
// no downloaded browser), against the real ibkr-sessiond and ibkr-sim from a build directory.
//
//   node tests/browser/run.mjs --bin build/test/daemon --scenario states [--artifacts DIR]
//                              [--docs-screenshot docs/settings.png] [--keep]
//
// --scenario: one of the names below, or "all". Each scenario starts its own simulator, daemon(s) and
// browser, and stops exactly those (by PID) when it ends, fails, or the runner gets SIGINT/SIGTERM.
// Screenshots of every state go to <artifacts>/<scenario>/; on failure also failure.png, the daemon's
// and the simulator's logs (always written there) and the axe results. Exit 0 passed, 1 failed, 64 usage.
// --keep keeps the scenario's work directory (keys, env files, state: removed otherwise, failed or not).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopAll, killAllNow, makeWorkDir } from './lib/processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
for (const pkg of ['playwright-core', 'axe-core']) {
  if (!fs.existsSync(path.join(here, 'node_modules', pkg, 'package.json'))) {
    console.error(`run.mjs: ${pkg} is not installed: npm ci --prefix ${path.relative(process.cwd(), here) || '.'} (tests/run.sh does it)`);
    process.exit(1);
  }
}
const { launch, Artifacts } = await import('./lib/browser.mjs');
const { scenarios } = await import('./scenarios/index.mjs');

function usage(msg) {
  console.error(`run.mjs: ${msg}\nusage: node run.mjs --bin DIR --scenario ${Object.keys(scenarios).join('|')}|all [--artifacts DIR] [--docs-screenshot PNG] [--keep]`);
  process.exit(64);
}

function parseArgs(argv) {
  const o = { artifacts: path.resolve(here, '../../build/test/browser-artifacts'), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--bin') o.bin = path.resolve(value());
    else if (a === '--scenario') o.scenario = value();
    else if (a === '--artifacts') o.artifacts = path.resolve(value());
    else if (a === '--docs-screenshot') o.docsScreenshot = path.resolve(value());
    else if (a === '--keep') o.keep = true;
    else usage(`unknown argument ${a}`);
  }
  if (!o.bin) usage('--bin is required (the directory holding ibkr-sessiond and ibkr-sim)');
  for (const b of ['ibkr-sessiond', 'ibkr-sim']) if (!fs.existsSync(path.join(o.bin, b))) usage(`no ${b} in ${o.bin}`);
  if (!o.scenario) o.scenario = o.docsScreenshot ? 'states' : usage('--scenario is required');
  if (o.scenario !== 'all' && !scenarios[o.scenario]) usage(`unknown scenario ${o.scenario}`);
  return o;
}

let stopping = false;
let currentDir = null;  // the running scenario's work directory (keys, env files, state)
let keepDirs = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    console.error(`run.mjs: ${sig}: stopping the processes it started`);
    await stopAll();
    if (currentDir && !keepDirs) fs.rmSync(currentDir, { recursive: true, force: true });
    process.exit(130);
  });
}
process.on('exit', killAllNow);

async function runScenario(name, opts) {
  const art = new Artifacts(opts.artifacts, name);
  const dir = makeWorkDir();
  currentDir = dir;
  const ctx = { name, bin: opts.bin, dir, art, axe: [], pages: [], docsScreenshot: opts.docsScreenshot, daemons: [], cleanups: [] };
  const t0 = Date.now();
  let browser;
  let failure = null;
  try {
    browser = await launch();
    ctx.browser = browser;
    console.log(`== ${name}: Chromium ${browser.version()}, work dir ${dir}, artifacts ${art.dir}`);
    await scenarios[name](ctx);
  } catch (e) {
    failure = e;
  }
  if (failure) {
    console.error(`FAIL ${name}: ${failure.stack || failure}`);
    for (const [i, page] of ctx.pages.entries()) {
      if (page.isClosed()) continue;
      const file = art.file(`failure${i ? `-${i}` : ''}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: 5000 }).then(() => console.error(`  screenshot: ${file}`), () => {});
      await fs.promises.writeFile(art.file(`failure${i ? `-${i}` : ''}.html`), await page.content().catch(() => '')).catch(() => {});
    }
    for (const d of ctx.daemons) console.error(`  ${d.proc.name} log: ${d.proc.logFile}\n${d.proc.tail(25)}`);
  }
  fs.writeFileSync(art.file('axe.json'), JSON.stringify(ctx.axe, null, 2));
  await browser?.close().catch(() => {});
  for (const c of ctx.cleanups) c();
  await stopAll();
  // The work directory holds throw-away private keys: removed, failed or not (the logs are in the
  // artifacts), unless --keep.
  if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  currentDir = null;
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`${failure ? 'FAIL' : 'PASS'} ${name} (${s} s)`);
  return !failure;
}

const opts = parseArgs(process.argv.slice(2));
keepDirs = opts.keep;
const names = opts.scenario === 'all' ? Object.keys(scenarios) : [opts.scenario];
let passed = 0;
let failed = 0;
for (const n of names) {
  if (stopping) break;
  (await runScenario(n, opts)) ? passed++ : failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
