// The scenarios of issue 14's "Tested in a real browser", by name (ctest runs each as browser/<name>).
import path from 'node:path';
import fs from 'node:fs';
import { daemonEnv, randomToken } from '../lib/processes.mjs';
import {
  expectDom, expectConnectionState, expectStepOutcomes, signIn, axeCheck, describe, STATE_WORDS,
} from '../lib/browser.mjs';
import { startPrefixProxy } from '../lib/prefix_proxy.mjs';
import {
  check, singleUser, daemon, openPage, multiUser, addUser, credentialBody, submitCredentials, SIM_USERS,
  firstStatusEvent,
} from './common.mjs';

const STEPS = ['oauth', 'sso', 'validate', 'init'];
const TOKEN_PATH = '/oauth2/api/v1/token';

const isVisible = (sel) => `(() => { const el = document.querySelector(${JSON.stringify(sel)});
  return !!el && !el.hidden && getComputedStyle(el).display !== 'none' && getComputedStyle(el).visibility !== 'hidden' && el.getClientRects().length > 0; })()`;
async function visible(page, sel) { return page.evaluate(isVisible(sel)); }
async function expectVisible(page, sel, what = `${sel} visible`, timeout = 10000) {
  await expectDom(page, what, (s) => {
    const el = document.querySelector(s);
    return !!el && !el.hidden && getComputedStyle(el).display !== 'none' && getComputedStyle(el).visibility !== 'hidden'
      && el.getClientRects().length > 0 && el.textContent.trim().length > 0;
  }, { arg: sel, timeout, show: [sel] });
}
async function expectHidden(page, sel, what = `${sel} absent or hidden`, timeout = 10000) {
  await expectDom(page, what, (s) => {
    const el = document.querySelector(s);
    return !el || el.hidden || getComputedStyle(el).display === 'none' || getComputedStyle(el).visibility === 'hidden' || el.getClientRects().length === 0;
  }, { arg: sel, timeout, show: [sel] });
}
async function text(page, sel) {
  return page.evaluate((s) => document.querySelector(s)?.textContent.replace(/\s+/g, ' ').trim() ?? null, sel);
}

// Records every value #connection-state's data-state takes (a MutationObserver), so that a state
// the page shows only briefly is seen too, and marks the document so that a reload would show.
async function watchState(page) {
  await page.evaluate(() => {
    window.__noReload = true;
    window.__states = [];
    const el = document.querySelector('#connection-state');
    const note = () => window.__states.push(el.getAttribute('data-state'));
    note();
    new MutationObserver(note).observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
  });
}

// ---- (1) not configured, configured but not connected, connected -------------------------------
async function states(ctx) {
  const { keyFile, sim } = await singleUser(ctx);

  // Not configured: two variables missing.
  let d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile, extra: { IBKR_CLIENT_ID: null, IBKR_CLIENT_KEY_ID: null } }), 'daemon-not-configured');
  let { page, net } = await openPage(ctx, d);
  await expectConnectionState(page, 'not_configured');
  const status = (await d.api('GET', '/api/ibkr/status')).json;
  await expectDom(page, `#status-message "${status.message}" (the daemon's one line)`,
    (m) => document.querySelector('#status-message')?.textContent.trim() === m, { arg: status.message, show: ['#status-message'] });
  await expectVisible(page, '#onboarding');
  for (const v of ['IBKR_CLIENT_ID', 'IBKR_CLIENT_KEY_ID']) {
    await expectVisible(page, `#onboarding [data-variable="${v}"]`, `#onboarding naming ${v} ([data-variable="${v}"], visible, with advice)`);
  }
  const named = await page.$$eval('#onboarding [data-variable]', (els) => els.map((e) => e.getAttribute('data-variable')));
  check(!named.includes('IBKR_PRIVATE_KEY_FILE') && !named.includes('IBKR_CREDENTIAL'),
    `#onboarding names only what is wrong (IBKR_CLIENT_ID, IBKR_CLIENT_KEY_ID); it names ${named.join(', ')}`);
  await expectStepOutcomes(page, Object.fromEntries(STEPS.map((s) => [s, 'unknown'])));
  await ctx.art.screenshot(page, 'not-configured');
  await axeCheck(page, 'not configured', ctx.axe);
  await page.context().close();
  await d.proc.stop();

  // Configured but not connected: the simulator refuses OAuth (503 until cleared).
  await sim.control('POST', '/control/fault', { path: TOKEN_PATH, action: 'status', status: 503, count: -1 });
  d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile }), 'daemon');
  await d.proc.waitFor('stderr', /oauth[^\n]*503|503[^\n]*oauth/i, 20000, 'an OAuth failure (HTTP 503) in the log');
  ({ page, net } = await openPage(ctx, d));
  await expectConnectionState(page, 'configured_not_connected');
  await expectStepOutcomes(page, { oauth: 'failed', sso: 'unknown', validate: 'unknown', init: 'unknown' });
  await expectDom(page, 'the OAuth indicator showing HTTP status 503',
    () => /503/.test(document.querySelector('[data-step-indicator="oauth"]')?.textContent ?? ''), { show: ['[data-step-indicator="oauth"]'] });
  await expectVisible(page, '#onboarding');
  await expectVisible(page, '#troubleshooting');
  await expectVisible(page, '#last-error');
  await ctx.art.screenshot(page, 'configured-not-connected');
  await axeCheck(page, 'configured but not connected', ctx.axe);

  // The simulator accepts OAuth again: the page detects the connection by itself, no reload.
  await watchState(page);
  const navigations = net.navigations;
  await sim.control('POST', '/control/clear-faults');
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  await expectConnectionState(page, 'connected');
  check(net.navigations === navigations && await page.evaluate(() => window.__noReload === true),
    'the page reloaded to show the connection (expected an update in place)');
  await expectStepOutcomes(page, Object.fromEntries(STEPS.map((s) => [s, 'passed'])));
  await expectDom(page, '#environment "paper" with data-environment="paper"', () => {
    const el = document.querySelector('#environment');
    return el?.textContent.trim() === 'paper' && el.getAttribute('data-environment') === 'paper';
  }, { show: ['#environment'] });
  await expectDom(page, '#account DU1234567', () => /DU1234567/.test(document.querySelector('#account')?.textContent ?? ''), { show: ['#account'] });
  await expectDom(page, '#server naming ibkr-sim', () => /ibkr-sim/.test(document.querySelector('#server')?.textContent ?? ''), { show: ['#server'] });
  await expectDom(page, '#last-tickle set', () => (document.querySelector('#last-tickle')?.textContent.trim() ?? '') !== '', { show: ['#last-tickle'] });
  await expectHidden(page, '#onboarding');
  await expectHidden(page, '#mode-banner', '#mode-banner absent or hidden (production is the default)');
  await expectDom(page, '#live-indicator data-live="stream"',
    () => document.querySelector('#live-indicator')?.getAttribute('data-live') === 'stream', { show: ['#live-indicator'] });
  await ctx.art.screenshot(page, 'connected');
  if (ctx.docsScreenshot) {
    fs.mkdirSync(path.dirname(ctx.docsScreenshot), { recursive: true });
    await page.screenshot({ path: ctx.docsScreenshot, fullPage: false, timeout: 10000 });
    console.log(`docs screenshot: ${ctx.docsScreenshot} (${fs.statSync(ctx.docsScreenshot).size} bytes)`);
  }
  await axeCheck(page, 'connected', ctx.axe);
}

// ---- (2) Test Connection --------------------------------------------------------------------------
async function testConnection(ctx) {
  const { keyFile, sim } = await singleUser(ctx);
  const adminToken = randomToken('admin-token');
  const d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile, apiToken: adminToken }));
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  const { page, net } = await openPage(ctx, d);
  await expectConnectionState(page, 'connected');
  await signIn(page, adminToken);
  await ctx.art.screenshot(page, 'signed-in');
  await page.click('#test-connection');
  for (const s of STEPS) {
    await expectDom(page, `[data-test-step="${s}"] in #test-results with data-outcome="passed"`,
      (step) => document.querySelector(`#test-results [data-test-step="${step}"]`)?.getAttribute('data-outcome') === 'passed',
      { arg: s, timeout: 30000, show: ['#test-results [data-test-step]', '#test-summary'] });
  }
  await expectVisible(page, '#test-summary');
  const posts = net.requests((e) => e.method === 'POST' && new URL(e.url).pathname.endsWith('/api/ibkr/test'));
  check(posts.length === 1, `one POST api/ibkr/test expected, the page sent ${posts.length}`);
  check(posts[0].headers.authorization === `Bearer ${adminToken}`, 'the POST api/ibkr/test did not carry the admin token as a bearer');
  await ctx.art.screenshot(page, 'test-passed');
  await axeCheck(page, 'test connection results', ctx.axe);
}

// ---- (3) the session breaks: the page changes within 2 s without a reload -------------------------
async function liveUpdate(ctx) {
  const { keyFile, sim } = await singleUser(ctx);
  const d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile }));
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  const { page, net } = await openPage(ctx, d);
  await expectConnectionState(page, 'connected');
  await expectDom(page, '#live-indicator data-live="stream"',
    () => document.querySelector('#live-indicator')?.getAttribute('data-live') === 'stream', { show: ['#live-indicator'] });
  await watchState(page);
  const navigations = net.navigations;
  // Every session ends (IBKR's nightly reset), then a minute of maintenance: the daemon's next
  // tickle fails and it cannot log in again until maintenance is switched off.
  const broken = Date.now();
  await sim.control('POST', '/control/nightly-reset', { duration_ms: 60000 });
  await expectDom(page, '#connection-state leaving "connected" within 2 s of the break, without a reload',
    () => window.__noReload === true && window.__states.some((s) => s !== 'connected'),
    { timeout: 2000, show: ['#connection-state', '#status-message', '#live-indicator'] });
  console.log(`live update: the page left "connected" ${Date.now() - broken} ms after the break (bound 2000 ms)`);
  check(net.navigations === navigations, 'the page was reloaded (expected the event stream to update it in place)');
  await expectConnectionState(page, 'configured_not_connected');
  await ctx.art.screenshot(page, 'session-broken');
  await axeCheck(page, 'session broken', ctx.axe);
  await sim.control('POST', '/control/maintenance', { on: false });
  await expectConnectionState(page, 'connected', 20000);
  check(net.navigations === navigations, 'the page was reloaded while the session came back');
  await ctx.art.screenshot(page, 'session-back');

  // The daemon dies (SIGKILL): the page must not go on saying "Connected".
  process.kill(d.proc.pid, 'SIGKILL');
  await d.proc.exitPromise;
  await expectDom(page, '#connection-state data-state="unreachable" once the daemon is gone',
    () => document.querySelector('#connection-state')?.getAttribute('data-state') === 'unreachable',
    { timeout: 15000, show: ['#connection-state', '#status-message', '#live-indicator'] });
  await ctx.art.screenshot(page, 'daemon-gone');
  await axeCheck(page, 'daemon gone', ctx.axe);
}

// ---- (4) multi-user: a user enters credentials -----------------------------------------------------
async function userEntersCredentials(ctx, m, page, aliceToken) {
  const alice = SIM_USERS[0];
  await signIn(page, aliceToken);
  await ctx.art.screenshot(page, 'user-signed-in');
  const bad = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n';
  await submitCredentials(page, credentialBody(alice, bad));
  await expectVisible(page, '[data-error-for="private_key"]', 'an error at the private key field ([data-error-for="private_key"])');
  await ctx.art.screenshot(page, 'bad-pem');
  await axeCheck(page, 'credentials form with an error', ctx.axe);
  const saved = page.waitForResponse((r) => r.request().method() === 'PUT' && /\/api\/users\/alice\/ibkr-credentials$/.test(r.url()), { timeout: 15000 });
  await submitCredentials(page, credentialBody(alice, m.keys.alice.pem));
  const put = await saved;
  check(put.status() === 201 || put.status() === 200, `the page's PUT of alice's credentials: expected 201/200, got ${put.status()} ${await put.text()}`);
  const meta = await m.d.api('GET', '/api/users/alice/ibkr-credentials', { token: m.adminToken });
  const fp = meta.json?.key_fingerprint;
  check(fp, `GET /api/users/alice/ibkr-credentials: no key_fingerprint (${meta.status} ${meta.text.slice(0, 200)})`);
  await expectDom(page, `#key-fingerprint visible showing the stored fingerprint ${fp}`, (f) => {
    const el = document.querySelector('#key-fingerprint');
    return !!el && !el.hidden && el.getClientRects().length > 0 && el.textContent.includes(f);
  }, { arg: fp, timeout: 10000, show: ['#key-fingerprint'] });
  await expectHidden(page, '[data-error-for="private_key"]', 'the private key error gone after a good PEM');
  const pemShown = await page.$eval('#credentials-form [name="private_key"]', (t) => t.value);
  check(pemShown === '', `the PEM is still in the private_key field after saving (${pemShown.length} characters): it must not be shown back`);
  await m.d.proc.waitFor('stderr', 'session connected', 20000, '"session connected" (alice)');
  await expectConnectionState(page, 'connected', 15000);
  await expectDom(page, '#account DU0000001 (alice\'s own status)', () => /DU0000001/.test(document.querySelector('#account')?.textContent ?? ''), { show: ['#account'] });
  await ctx.art.screenshot(page, 'user-connected');
  await axeCheck(page, 'user connected', ctx.axe);
}

async function multiUserScenario(ctx) {
  const m = await multiUser(ctx);
  const aliceToken = await addUser(m.d, m.adminToken, 'alice');
  const { page } = await openPage(ctx, m.d);
  await ctx.art.screenshot(page, 'signed-out');
  await axeCheck(page, 'multi-user, signed out', ctx.axe);
  await userEntersCredentials(ctx, m, page, aliceToken);
}

// ---- (5) the admin sees the users and pages through the audit log -----------------------------------
async function adminViews(ctx, m, page, { signInAs = m.adminToken } = {}) {
  await signIn(page, signInAs);
  for (const u of ['alice', 'bob']) {
    await expectVisible(page, `#users-table tbody tr[data-user="${u}"]`, `a #users-table row for ${u}`);
  }
  await expectDom(page, 'alice\'s row in #users-table showing her state (connected)',
    () => /connected/i.test(document.querySelector('#users-table tbody tr[data-user="alice"]')?.textContent ?? ''),
    { timeout: 15000, show: ['#users-table tbody tr[data-user="alice"]'] });
  await expectDom(page, 'entries in #audit-table', () => document.querySelectorAll('#audit-table tbody tr').length > 0,
    { show: ['#audit-table', '#audit-next'] });
  await ctx.art.screenshot(page, 'admin');
  await axeCheck(page, 'admin: users and audit', ctx.axe);
}

async function admin(ctx) {
  const m = await multiUser(ctx);
  const aliceToken = await addUser(m.d, m.adminToken, 'alice');
  await addUser(m.d, m.adminToken, 'bob');
  const put = await m.d.api('PUT', '/api/users/alice/ibkr-credentials', { token: aliceToken, body: credentialBody(SIM_USERS[0], m.keys.alice.pem) });
  check(put.status === 201, `PUT alice's credentials: expected 201, got ${put.status} ${put.text.slice(0, 200)}`);
  await m.d.proc.waitFor('stderr', 'session connected', 20000, '"session connected" (alice)');
  // More audit entries than one page holds: users u001.. (each addition is audited).
  const all = async () => (await m.d.api('GET', '/api/audit?limit=1000', { token: m.adminToken })).json?.entries?.length ?? 0;
  let n = 0;
  while ((await all()) <= 110) {
    for (let i = 0; i < 30; i++) await addUser(m.d, m.adminToken, `u${String(++n).padStart(3, '0')}`);
  }
  const total = await all();
  const { page, net } = await openPage(ctx, m.d);
  await adminViews(ctx, m, page);
  const auditReq = net.requests((e) => new URL(e.url).pathname.endsWith('/api/audit'));
  const limit = Number(new URL(auditReq[0].url).searchParams.get('limit') || 100);
  check(limit < total, `the page asks api/audit with limit=${limit}, there are ${total} entries: no second page to test`);
  const rows = () => page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) => tr.textContent.replace(/\s+/g, ' ').trim()));
  const first = await rows();
  await expectVisible(page, '#audit-next', '#audit-next (there are more entries than one page)');
  await page.click('#audit-next');
  await expectDom(page, 'the next page of #audit-table after pressing #audit-next',
    (f) => { const tr = document.querySelector('#audit-table tbody tr'); return !!tr && tr.textContent.replace(/\s+/g, ' ').trim() !== f; },
    { arg: first[0], show: ['#audit-table tbody tr:first-child', '#audit-next'] });
  const second = await rows();
  const overlap = second.filter((r) => first.includes(r));
  check(overlap.length === 0, `pages 1 and 2 of the audit log share ${overlap.length} row(s), e.g. "${overlap[0]}"`);
  check(net.requests((e) => new URL(e.url).pathname.endsWith('/api/audit') && new URL(e.url).searchParams.has('after')).length > 0,
    '#audit-next did not ask api/audit?after=...');
  console.log(`audit: ${total} entries, page size ${limit}, page 1 ${first.length} rows, page 2 ${second.length} rows`);
  await ctx.art.screenshot(page, 'audit-page-2');
}

// ---- (6) no token or key in the DOM, in localStorage, or in the network log -------------------------
function pemNeedles(pem) {
  const lines = pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l));
  return [lines.join(''), ...lines.slice(1, -1)].filter(Boolean);
}

async function secretsScan(page, net, secrets, where, allow = () => false) {
  const leaks = [];
  const find = (hay, label) => {
    if (!hay) return;
    for (const s of secrets) {
      for (const needle of s.needles) {
        if (hay.includes(needle) && !allow(label, s)) { leaks.push(`${s.name} in ${label}`); return; }
      }
    }
  };
  const dom = await page.evaluate(() => ({
    html: document.documentElement.outerHTML,
    values: [...document.querySelectorAll('input, textarea, select')].map((e) => `${e.name || e.id}=${e.value}`).join('\n'),
    local: Object.keys(localStorage).map((k) => `${k}=${localStorage.getItem(k)}`).join('\n'),
    cookie: document.cookie,
  }));
  find(dom.html, 'the DOM (outerHTML)');
  find(dom.values, 'input values');
  find(dom.local, 'localStorage');
  find(dom.cookie, 'document.cookie');
  await net.settle();
  for (const e of net.entries) {
    const label = `${e.kind} ${e.method} ${e.url}`;
    find(e.url, `${label} (URL)`);
    const headers = Object.entries(e.headers).filter(([k]) => k.toLowerCase() !== 'authorization').map(([k, v]) => `${k}: ${v}`).join('\n');
    find(headers, `${label} (headers)`);
    find(e.body, `${label} (body)`);
  }
  check(leaks.length === 0, `secrets found ${where}:\n    ${[...new Set(leaks)].join('\n    ')}`);
  console.log(`no secret ${where}: DOM ${dom.html.length} chars, ${net.entries.length} network entries`);
}

async function noSecrets(ctx) {
  const m = await multiUser(ctx);
  const aliceToken = await addUser(m.d, m.adminToken, 'alice');
  const bobToken = await addUser(m.d, m.adminToken, 'bob');
  const secrets = [
    { name: 'the admin token', needles: [m.adminToken] },
    { name: 'alice\'s token', needles: [aliceToken] },
    { name: 'bob\'s token', needles: [bobToken] },
    { name: 'alice\'s private key', needles: pemNeedles(m.keys.alice.pem), pem: true },
  ];
  const { page, net } = await openPage(ctx, m.d);
  await userEntersCredentials(ctx, m, page, aliceToken);
  await page.click('#test-connection');
  await expectDom(page, 'a connection test result in #test-summary', () => (document.querySelector('#test-summary')?.textContent.trim() ?? '') !== '',
    { timeout: 30000, show: ['#test-summary', '#test-results [data-test-step]'] });
  // The PEM may travel only in the body of the user's own PUT of their credentials.
  const pemInPut = (label, s) => s.pem && /^request PUT .*\/api\/users\/alice\/ibkr-credentials \(body\)$/.test(label);
  for (const e of net.requests((x) => x.headers.authorization)) {
    check(e.headers.authorization === `Bearer ${aliceToken}`, `a request carried an Authorization header other than alice's bearer: ${e.method} ${e.url}`);
  }
  const issued = await m.sim.control('GET', '/control/issued-tokens').catch(() => null);
  for (const t of issued?.tokens ?? []) secrets.push({ name: 'an IBKR token the simulator issued', needles: [t] });
  await secretsScan(page, net, secrets, 'after the user saved credentials and tested', pemInPut);
  const stored = await page.evaluate(() => sessionStorage.getItem('sessiond.token'));
  check(stored === aliceToken, 'sessionStorage "sessiond.token" does not hold the signed-in user\'s token');
  const userEvents = await firstStatusEvent(m.d, aliceToken);
  check(!secrets.some((s) => s.needles.some((n) => userEvents.includes(n))), 'a secret in the user\'s event stream');
  await page.click('#signout');
  await expectDom(page, 'signed out: sessionStorage "sessiond.token" removed and #token-form shown',
    () => sessionStorage.getItem('sessiond.token') === null && !!document.querySelector('#token-form') && document.querySelector('#token-form').getClientRects().length > 0,
    { show: ['#token-form', '#signout'] });
  await secretsScan(page, net, secrets, 'after signing out', pemInPut);
  await adminViews(ctx, m, page);
  await secretsScan(page, net, secrets, 'after the admin looked at users and audit', pemInPut);
  const adminEvents = await firstStatusEvent(m.d, m.adminToken);
  check(!secrets.some((s) => s.needles.some((n) => adminEvents.includes(n))), 'a secret in the admin\'s event stream');
}

// ---- (7) the CSP blocks an injected inline script; development vs production ----------------------
async function cspAndMode(ctx) {
  const { keyFile, sim } = await singleUser(ctx);
  let d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile }), 'daemon-production');
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  let { page, response } = await openPage(ctx, d);
  const h = response.headers();
  const csp = h['content-security-policy'] ?? '';
  const scriptSrc = (csp.split(';').map((s) => s.trim()).find((s) => s.startsWith('script-src ')) ?? '');
  check(/'self'/.test(scriptSrc) && !/unsafe-inline|unsafe-eval/.test(scriptSrc) && /frame-ancestors 'none'/.test(csp) && /default-src 'none'/.test(csp),
    `Content-Security-Policy of /: expected default-src 'none', script-src 'self' without unsafe-*, frame-ancestors 'none'; got "${csp}"`);
  check(h['x-content-type-options'] === 'nosniff', `X-Content-Type-Options: expected nosniff, got ${h['x-content-type-options']}`);
  check(h['referrer-policy'] === 'no-referrer', `Referrer-Policy: expected no-referrer, got ${h['referrer-policy']}`);
  check((h['x-frame-options'] ?? '').toUpperCase() === 'DENY', `X-Frame-Options: expected DENY, got ${h['x-frame-options']}`);
  await expectConnectionState(page, 'connected');
  await page.evaluate(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    const s = document.createElement('script');
    s.textContent = 'window.__pwned = true;';
    document.body.appendChild(s);
  });
  await expectDom(page, 'a securitypolicyviolation event for the injected inline script',
    () => window.__violations.some((v) => v.startsWith('script-src')), { timeout: 5000, show: ['body > script:last-of-type'] });
  const pwned = await page.evaluate(() => window.__pwned);
  check(pwned === undefined, `the injected inline script ran (window.__pwned = ${pwned}): the CSP did not block it`);
  console.log(`CSP: violations reported: ${(await page.evaluate(() => window.__violations)).join('; ')}`);
  const status = (await d.api('GET', '/api/ibkr/status')).json;
  check(status?.mode === 'production', `status.mode: expected "production" by default, got ${JSON.stringify(status?.mode)}`);
  await expectHidden(page, '#mode-banner', '#mode-banner absent or hidden in production');
  await ctx.art.screenshot(page, 'production');
  await axeCheck(page, 'production', ctx.axe);
  await page.context().close();
  await d.proc.stop();

  d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile, extra: { SESSIOND_MODE: 'development' } }), 'daemon-development');
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  ({ page } = await openPage(ctx, d));
  await expectConnectionState(page, 'connected');
  await expectVisible(page, '#mode-banner', '#mode-banner visible in development mode');
  const dev = (await d.api('GET', '/api/ibkr/status')).json;
  check(dev?.mode === 'development', `status.mode: expected "development", got ${JSON.stringify(dev?.mode)}`);
  await ctx.art.screenshot(page, 'development');
  await axeCheck(page, 'development', ctx.axe);
}

// A smoke test of the harness itself, with no web UI needed: the simulator and the daemon start,
// the API answers, Chromium loads the status JSON from the daemon.
async function harness(ctx) {
  const { keyFile, sim } = await singleUser(ctx);
  const d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile }));
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  const context = await ctx.browser.newContext();
  const page = await context.newPage();
  ctx.pages.push(page);
  const r = await page.goto(`${d.base}/api/ibkr/status`, { timeout: 15000 });
  const body = await r.text();
  check(r.status() === 200 && JSON.parse(body).status === 'connected', `GET /api/ibkr/status in Chromium: ${r.status()} ${body.slice(0, 200)}`);
  await ctx.art.screenshot(page, 'status-json');
  console.log(`harness: sim https ${sim.httpsPort} control ${sim.controlPort}, daemon ${d.base}, status connected`);
}

// ---- behind a reverse proxy with a path prefix ------------------------------------------------------
// The README's setting: the daemon under /ibkr/ on another server. The page, its stream and its
// Test Connection work through it, and the page asks for nothing outside the prefix.
async function pathPrefix(ctx) {
  const { keyFile, sim } = await singleUser(ctx);
  const adminToken = randomToken('admin-token');
  const d = await daemon(ctx, daemonEnv(sim, ctx.dir, { keyFile, apiToken: adminToken }));
  await d.proc.waitFor('stderr', 'session connected', 20000, '"session connected"');
  const proxy = await startPrefixProxy('/ibkr', d.port);
  ctx.cleanups.push(() => proxy.close());
  const { page, net } = await openPage(ctx, { base: proxy.base });
  await expectConnectionState(page, 'connected');
  await expectDom(page, '#live-indicator data-live="stream" through the proxy',
    () => document.querySelector('#live-indicator')?.getAttribute('data-live') === 'stream', { show: ['#live-indicator'] });
  await signIn(page, adminToken);
  await page.click('#test-connection');
  await expectDom(page, '[data-test-step="init"] passed through the proxy',
    () => document.querySelector('#test-results [data-test-step="init"]')?.getAttribute('data-outcome') === 'passed',
    { timeout: 30000, show: ['#test-results [data-test-step]', '#test-summary'] });
  const outside = net.requests((e) => !new URL(e.url).pathname.startsWith('/ibkr/'));
  check(outside.length === 0, `the page asked for paths outside the prefix: ${outside.map((e) => e.url).join(', ')}`);
  await ctx.art.screenshot(page, 'behind-a-prefix');
}

export const scenarios = {
  harness,
  states,
  'test-connection': testConnection,
  'live-update': liveUpdate,
  'multi-user': multiUserScenario,
  admin,
  'no-secrets': noSecrets,
  'csp-mode': cspAndMode,
  'path-prefix': pathPrefix,
};
// describe/STATE_WORDS re-exported for ad-hoc debugging from a REPL.
export { describe, STATE_WORDS };
