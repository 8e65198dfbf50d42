// Chromium (Debian's /usr/bin/chromium) through playwright-core, and the checks every scenario uses:
// DOM expectations with messages that say what was expected and what the DOM showed, screenshots,
// the axe-core pass, and the network log the secrets check reads.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM = process.env.SESSIOND_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const VIEWPORT = { width: 1000, height: 700 };

export async function launch() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium; deploy/install-deps.sh does)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000 });
}

// What the page asked and was answered, for the secrets check. Bodies of event streams are not
// read here (they never end); the scenario reads the stream itself.
export class NetLog {
  constructor(page) {
    this.entries = [];
    this.pending = [];
    this.navigations = 0;
    page.on('request', (req) => {
      this.entries.push({ kind: 'request', method: req.method(), url: req.url(), headers: req.headers(), body: req.postData() ?? '' });
    });
    page.on('response', (res) => {
      const entry = { kind: 'response', method: res.request().method(), url: res.url(), status: res.status(), headers: res.headers(), body: '' };
      this.entries.push(entry);
      const type = res.headers()['content-type'] || '';
      if (type.includes('text/event-stream')) {
        entry.body = '(event stream: not read)';
        return;
      }
      this.pending.push(res.body().then((b) => { entry.body = b.toString('utf8'); }, () => { entry.body = '(body unavailable)'; }));
    });
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) this.navigations += 1; });
  }

  async settle(timeoutMs = 5000) {
    await Promise.race([Promise.allSettled(this.pending), new Promise((r) => setTimeout(r, timeoutMs))]);
  }

  requests(pred) { return this.entries.filter((e) => e.kind === 'request' && pred(e)); }
}

export class Artifacts {
  constructor(root, scenario) {
    this.dir = path.join(root, scenario);
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.mkdirSync(this.dir, { recursive: true });
    this.n = 0;
  }
  file(name) { return path.join(this.dir, name); }
  async screenshot(page, name) {
    this.n += 1;
    const file = this.file(`${String(this.n).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
    return file;
  }
}

// A short, readable picture of what the DOM shows for `selector`.
export async function describe(page, selector) {
  return page.evaluate((sel) => {
    const els = [...document.querySelectorAll(sel)];
    if (els.length === 0) return `no element matches ${sel}`;
    return els.slice(0, 8).map((el) => {
      const attrs = [...el.attributes].filter((a) => a.name !== 'class' || a.value).map((a) => `${a.name}="${a.value}"`).join(' ');
      const style = getComputedStyle(el);
      const shown = !el.hidden && style.display !== 'none' && style.visibility !== 'hidden' && el.getClientRects().length > 0;
      const text = (el.innerText ?? el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
      return `<${el.tagName.toLowerCase()} ${attrs}>${shown ? '' : ' (not visible)'} text="${text}"`;
    }).join('\n      ') + (els.length > 8 ? `\n      ... ${els.length - 8} more` : '');
  }, selector).catch((e) => `(could not read the DOM: ${e.message})`);
}

// Waits until `predicate(document, arg)` (run in the page) is true. On timeout: an Error naming
// what was expected and what the DOM shows at the selectors given.
export async function expectDom(page, what, predicate, { arg, timeout = 10000, show = [] } = {}) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 'raf' });
  } catch (e) {
    const views = [];
    for (const sel of show) views.push(`    ${sel}: ${await describe(page, sel)}`);
    throw new Error(`expected ${what} within ${timeout} ms; the DOM shows:\n${views.join('\n') || '    (nothing asked)'}\n    (${e.message.split('\n')[0]})`);
  }
}

export const visible = (el) => !!el && !el.hidden && getComputedStyle(el).display !== 'none'
  && getComputedStyle(el).visibility !== 'hidden' && el.getClientRects().length > 0;

// #connection-state in the guide's words.
export const STATE_WORDS = {
  connected: 'Connected',
  configured_not_connected: 'Configured but Not Connected',
  not_configured: 'Not Configured',
};
export async function expectConnectionState(page, state, timeout = 15000) {
  await expectDom(page, `#connection-state data-state="${state}" and text "${STATE_WORDS[state]}"`,
    ([s, words]) => {
      const el = document.querySelector('#connection-state');
      return el && el.getAttribute('data-state') === s && el.textContent.trim() === words;
    }, { arg: [state, STATE_WORDS[state]], timeout, show: ['#connection-state', '#status-message', '#last-error'] });
}

export async function expectStepOutcomes(page, outcomes, timeout = 10000) {
  await expectDom(page, `step indicators ${JSON.stringify(outcomes)}`,
    (want) => Object.entries(want).every(([step, outcome]) => {
      const el = document.querySelector(`[data-step-indicator="${step}"]`);
      return el && el.getAttribute('data-outcome') === outcome;
    }), { arg: outcomes, timeout, show: ['[data-step-indicator]'] });
}

export async function signIn(page, token, timeout = 10000) {
  await expectDom(page, '#token-form with #token-input visible', () => {
    const v = (el) => !!el && !el.hidden && getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0;
    return v(document.querySelector('#token-form')) && v(document.querySelector('#token-input'));
  }, { timeout, show: ['#token-form', '#token-input', '#signout'] });
  await page.fill('#token-input', token, { timeout });
  await page.click('#token-submit', { timeout });
  await expectDom(page, 'signed in (#signout visible, #token-input empty or gone)', () => {
    const v = (el) => !!el && !el.hidden && getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0;
    const input = document.querySelector('#token-input');
    return v(document.querySelector('#signout')) && (!input || !v(input) || input.value === '');
  }, { timeout, show: ['#token-form', '#signout', '[role="alert"]'] });
}

// axe-core in the page (evaluated through the DevTools protocol, which the page's CSP does not
// govern, so no inline <script> is needed). Returns the violations; throws on serious/critical.
export async function axeCheck(page, label, report) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const counts = { critical: 0, serious: 0, moderate: 0, minor: 0 };
  for (const v of violations) counts[v.impact] = (counts[v.impact] || 0) + v.nodes.length;
  report.push({ label, counts, violations });
  console.log(`axe ${label}: critical ${counts.critical}, serious ${counts.serious}, moderate ${counts.moderate}, minor ${counts.minor}` +
    (violations.length ? ` (${violations.map((v) => `${v.id}/${v.impact}`).join(', ')})` : ''));
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    throw new Error(`axe: ${bad.length} serious/critical violation(s) on ${label}:\n` +
      bad.map((v) => `    ${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(' | ')}`).join('\n'));
  }
}
