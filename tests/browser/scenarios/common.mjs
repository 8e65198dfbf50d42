// Set-ups shared by the scenarios: a single-user simulator and daemon as deploy/demo.sh runs them,
// the multi-user set-up of tests/integration/multi_user_fixture.hpp, and a page on the daemon.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { startSim, startDaemon, daemonEnv, generateKey, randomToken } from '../lib/processes.mjs';
import { NetLog, VIEWPORT, expectDom } from '../lib/browser.mjs';

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

export async function singleUser(ctx) {
  const keyFile = path.join(ctx.dir, 'key.pem');
  const pem = generateKey(keyFile);
  const sim = await startSim(ctx.bin, ctx.dir, { keyFile, artifacts: ctx.art.dir });
  return { keyFile, pem, sim };
}

export async function daemon(ctx, env, name = 'ibkr-sessiond') {
  const d = await startDaemon(ctx.bin, ctx.dir, env, { name, artifacts: ctx.art.dir });
  ctx.daemons.push(d);
  return d;
}

// A page on `d` ("/"), with its network log. bypassCSP only for what must not meet the CSP.
export async function openPage(ctx, d, { bypassCSP = false, path: p = '/' } = {}) {
  const context = await ctx.browser.newContext({ viewport: VIEWPORT, bypassCSP });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const net = new NetLog(page);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  ctx.pages.push(page);
  const base = d.base;
  const response = await page.goto(base + p, { waitUntil: 'load', timeout: 15000 });
  check(response && response.status() === 200,
    `GET ${p} on the daemon: expected 200 text/html, got ${response ? response.status() : 'no response'}` +
    ` (${response ? (await response.text()).slice(0, 200) : ''}): does this daemon serve the web UI (web/ embedded)?`);
  return { context, page, net, response, consoleLines };
}

export const SIM_USERS = [
  { client_id: 'client-a', username: 'ibkr-alice', account: 'DU0000001', id: 'alice' },
  { client_id: 'client-b', username: 'ibkr-bob', account: 'DU0000002', id: 'bob' },
];

// ibkr-sim serving alice's and bob's IBKR usernames (--users), and a multi-user daemon with a master
// key file and its SQLite database in the state directory, no user yet.
export async function multiUser(ctx, { extra = {} } = {}) {
  const keys = {};
  for (const u of SIM_USERS) {
    const file = path.join(ctx.dir, `${u.id}-key.pem`);
    keys[u.id] = { file, pem: generateKey(file) };
  }
  const usersFile = path.join(ctx.dir, 'users.json');
  fs.writeFileSync(usersFile, JSON.stringify({
    users: SIM_USERS.map((u) => ({
      client_id: u.client_id, key_id: 'main', public_key_file: keys[u.id].file, username: u.username,
      accounts: [u.account], environment: 'paper', allowed_ip: '127.0.0.1',
    })),
  }));
  const sim = await startSim(ctx.bin, ctx.dir, { usersFile, artifacts: ctx.art.dir });
  const masterKey = path.join(ctx.dir, 'master-key');
  fs.writeFileSync(masterKey, crypto.randomBytes(32));
  fs.chmodSync(masterKey, 0o400);
  const adminToken = randomToken('admin-token');
  const env = daemonEnv(sim, ctx.dir, {
    apiToken: adminToken,
    extra: {
      ENABLE_MULTI_USER: 'true', SESSIOND_MASTER_KEY_FILE: masterKey,
      IBKR_CLIENT_ID: null, IBKR_CLIENT_KEY_ID: null, IBKR_PRIVATE_KEY_FILE: null, IBKR_CREDENTIAL: null,
      IBKR_ACCOUNT_ID: null, IBKR_ALLOWED_IP: null, IBKR_ENV: null, ...extra,
    },
  });
  const d = await daemon(ctx, env);
  await d.proc.waitFor('stderr', 'multi-user mode: 0 user(s)', 20000, '"multi-user mode: 0 user(s)"');
  return { sim, d, keys, adminToken };
}

// PUT /api/users/{id} as the admin: the user's token (shown once).
export async function addUser(d, adminToken, id) {
  const r = await d.api('PUT', `/api/users/${id}`, { token: adminToken });
  check(r.status === 201 && r.json?.token, `PUT /api/users/${id}: expected 201 {token}, got ${r.status} ${r.text.slice(0, 300)}`);
  return r.json.token;
}

export function credentialBody(user, pem) {
  return {
    client_id: user.client_id, client_key_id: 'main', private_key: pem, credential: user.username,
    account_id: user.account, allowed_ip: '127.0.0.1', environment: 'paper',
  };
}

// Fills #credentials-form with `values` (inputs named as the API fields; environment may be a
// select, radio buttons or a text input) and submits it with its submit button.
export async function submitCredentials(page, values) {
  await expectDom(page, '#credentials-form visible', () => {
    const f = document.querySelector('#credentials-form');
    return !!f && !f.hidden && f.getClientRects().length > 0;
  }, { show: ['#credentials-form', '#connection-state'] });
  for (const [name, value] of Object.entries(values)) {
    const sel = `#credentials-form [name="${name}"]`;
    const kind = await page.evaluate((s) => {
      const els = document.querySelectorAll(s);
      if (!els.length) return null;
      return els[0].tagName === 'SELECT' ? 'select' : (els[0].type === 'radio' ? 'radio' : 'text');
    }, sel);
    if (kind === null) throw new Error(`#credentials-form has no field named "${name}" (the contract names inputs as the API fields)`);
    if (kind === 'select') await page.selectOption(sel, value);
    else if (kind === 'radio') await page.check(`${sel}[value="${value}"]`);
    else await page.fill(sel, value);
  }
  const submit = page.locator('#credentials-form [type="submit"]');
  check(await submit.count() > 0, '#credentials-form has no submit button');
  await submit.first().click();
}

// The status event the daemon streams first (GET api/ibkr/events), read by the test itself: event
// stream bodies are not in the page's network log.
export async function firstStatusEvent(d, token) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10000);
  try {
    const r = await fetch(`${d.base}/api/ibkr/events`, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal: ac.signal });
    const reader = r.body.getReader();
    let text = '';
    while (!/event: status\ndata: .*\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    return text;
  } catch (e) {
    return `(event stream not read: ${e.message})`;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
