// ibkr-sessiond web UI: status, onboarding ("step 2"), Test Connection, sign-in, credentials, admin.
// Plain DOM, no framework. Every URL is relative so the page works under a reverse proxy's prefix.
// The token lives in sessionStorage only and is never written into the DOM or logged.

const TOKEN_KEY = 'sessiond.token';
const STEPS = ['oauth', 'sso', 'validate', 'init'];
const STEP_NAMES = { oauth: 'OAuth', sso: 'SSO', validate: 'Validate', init: 'Init' };
const STATE_WORDS = {
  connected: 'Connected',
  configured_not_connected: 'Configured but Not Connected',
  not_configured: 'Not Configured',
};
const POLL_MS = 30000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const STREAM_SILENCE_MS = 45000; // heartbeats come every 15 s

// What each variable must contain and where in IBKR's portal it comes from (the guide's words).
const VARIABLES = {
  IBKR_CLIENT_ID: {
    field: 'client_id', label: 'Client ID',
    contains: 'The OAuth 2.0 Client ID of your IBKR OAuth application.',
    source: 'IBKR Client Portal (portal.ibkr.com) → Settings → API → OAuth Applications: the Client ID saved when you created the application.',
  },
  IBKR_CLIENT_KEY_ID: {
    field: 'client_key_id', label: 'Client Key ID',
    contains: 'The key identifier (kid) of the signing key registered with that application.',
    source: 'The same OAuth application in the Client Portal: the generated Client Key ID.',
  },
  IBKR_PRIVATE_KEY: {
    field: 'private_key', label: 'Private key',
    contains: 'The RSA private key in PEM format, the whole file, from its BEGIN line (PKCS#8 or PKCS#1 RSA) to its END line; at least 2048 bits, not encrypted. Set IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE or the systemd credential ibkr-private-key.',
    source: 'You generate it (e.g. openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048) and register its public key with the OAuth application. Store it securely: it cannot be recovered if lost.',
  },
  IBKR_PRIVATE_KEY_FILE: {
    label: 'Private key file',
    contains: 'The path of that PEM file, readable by the daemon only.',
    source: 'The RSA key you generated for the OAuth application.',
  },
  IBKR_CREDENTIAL: {
    field: 'credential', label: 'IBKR username',
    contains: 'Your IBKR account username: the paper-trading username for paper, the live username for live.',
    source: 'The username you sign in to the Client Portal with; paper accounts have a username of their own. Keep paper and live credentials separate.',
  },
  IBKR_ACCOUNT_ID: {
    field: 'account_id', label: 'Account ID',
    contains: 'The account the session must list, e.g. DU1234567 (paper accounts start with D).',
    source: 'The account number shown in the Client Portal for that username.',
  },
  IBKR_ALLOWED_IP: {
    field: 'allowed_ip', label: 'Allowed IP',
    contains: "This server's public IP address, exactly as whitelisted (a static IP in production).",
    source: "Client Portal → Settings → API → your OAuth application → allowed IPs (the IP whitelist). For development, you may use your local IP.",
  },
  IBKR_ENV: {
    field: 'environment', label: 'Environment',
    contains: 'paper or live. It must match the username: a paper username logs in as paper.',
    source: 'Your choice. Test thoroughly in paper before live; live trades real money.',
  },
  IBKR_SCOPE: {
    field: 'scope', label: 'Scope',
    contains: 'The OAuth scope, normally sso-sessions.write (the default when empty).',
    source: 'The scope granted to the OAuth application.',
  },
  IBKR_BASE_URL: {
    contains: 'https://api.ibkr.com (https, host and optional port only).',
    source: "IBKR's Web API address; change it only for a test server.",
  },
  SESSIOND_API_TOKEN: {
    contains: "The admin's bearer token, at least 16 characters (required in multi-user mode).",
    source: 'You choose it (e.g. openssl rand -hex 32) and keep it secret.',
  },
};
const FIELD_TO_VARIABLE = Object.fromEntries(
  Object.entries(VARIABLES).filter(([, v]) => v.field).map(([k, v]) => [v.field, k]));

// The guide's troubleshooting list, keyed by state and by failed step.
const TROUBLE = {
  not_configured: ['"Not Configured" status', [
    'Verify all environment variables are set (the ones named in step 2).',
    "Check the .env file is loaded properly (the daemon's --env-file or its environment).",
  ]],
  // Multi-user mode: a user's settings are their stored credentials, not the daemon's environment.
  user_not_configured: ['"Not Configured" status', [
    'Enter your IBKR credentials in the form below (Your IBKR credentials).',
    'Each field that was refused says why beside it.',
  ]],
  configured_not_connected: ['"Configured but Not Connected"', [
    'Test connection using the Test Connection button.',
    'Check IP whitelist in IBKR Client Portal (IBKR_ALLOWED_IP).',
    'Verify private key format (PEM).',
  ]],
  oauth: ['OAuth failures', [
    'Verify Client ID and Client Key ID.',
    'Check private key is properly formatted (PEM, BEGIN/END lines, at least 2048 bits, unencrypted).',
    "Ensure IP is whitelisted: IBKR_ALLOWED_IP must be this server's public IP as listed for the application.",
  ]],
  sso: ['SSO failures', [
    'Check IBKR credentials are correct (IBKR_CREDENTIAL: the paper username for paper).',
    'Verify two-factor authentication is configured.',
    'Ensure IP is whitelisted.',
  ]],
  validate: ['Validation failures', [
    'Check IBKR_ENV matches the username: a paper username needs paper, a live one live.',
    'A 429 here means IBKR allows one validate per minute: wait and retry.',
  ]],
  init: ['Initialization failures', [
    'Check IBKR_ACCOUNT_ID is an account of this username.',
    'Another session (TWS, Client Portal, a second daemon) may hold this username: log out there.',
    'Check the account is paper for IBKR_ENV=paper and live for live.',
  ]],
};
const ERROR_STEP = { accounts: 'init', oauth: 'oauth', sso: 'sso', validate: 'validate', init: 'init' };

// ---- small helpers ----
const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
function setText(id, text) { const e = $(id); if (e.textContent !== text) e.textContent = text; }
const ms = (iso) => { const t = Date.parse(iso); return Number.isNaN(t) ? null : t; };
function span(sec) {
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return sec + ' s';
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  return m + 'm ' + s + 's';
}
// Local time as 14:05:09, with the date (2026-12-06 14:05:09) when not today. By hand: the first
// toLocale*String() call loads the locale data, 30 ms of the page's first render.
function clock(t) {
  const d = new Date(t);
  const two = (n) => String(n).padStart(2, '0');
  const time = two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  const now = new Date();
  const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return today ? time : d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' + time;
}
function announce(text) { $('announcer').textContent = text; }

// ---- state ----
const ui = {
  status: null, receivedAt: 0, skew: 0, // skew: server clock minus ours, from daemon.started_at + uptime
  token: null, role: null, userId: null,
  test: null, pendingTest: false, pendingKey: null,
  lastState: null, auditAfter: [], usersNext: null,
};

function bearer() { return ui.token ? { Authorization: 'Bearer ' + ui.token } : {}; }

async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, bearer(), opts.headers || {});
  let res;
  try {
    res = await fetch(path, Object.assign({}, opts, { headers, cache: 'no-store', credentials: 'same-origin' }));
  } catch {
    return { ok: false, status: 0, body: null, error: 'the daemon did not answer (network error)' };
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  return { ok: res.ok, status: res.status, body, error: res.ok ? null : errorText(res.status, body) };
}

// problem+json (title, detail) or the daemon's JSON {error}.
function errorText(status, body) {
  if (body && typeof body === 'object') {
    if (body.title || body.detail) return [body.title, body.detail].filter(Boolean).join(': ');
    if (body.error) return String(body.error);
    if (body.message) return String(body.message);
  }
  return 'HTTP ' + status;
}

// ---- status ----
function serverNow() { return Date.now() + ui.skew; }

function applyStatus(s) {
  if (!s || typeof s !== 'object') return;
  ui.status = s;
  ui.receivedAt = Date.now();
  const started = s.daemon && ms(s.daemon.started_at);
  if (started != null && typeof s.daemon.uptime_seconds === 'number')
    ui.skew = started + s.daemon.uptime_seconds * 1000 - Date.now();
  render();
}

function stateOf(s) {
  if (STATE_WORDS[s.status]) return s.status;
  if (s.connected === true) return 'connected';
  return s.configured === false ? 'not_configured' : 'configured_not_connected';
}
const multiUser = (s) => !!(s && (s.multiUserMode === true || s.multi_user));

function render() {
  const s = ui.status;
  if (!s) return;
  const state = stateOf(s);
  const cs = $('connection-state');
  setText('connection-state', STATE_WORDS[state]);
  cs.dataset.state = state;
  if (ui.lastState !== state) {
    if (state === 'connected') ui.test = null; // an earlier failed test no longer says what is wrong
    if (ui.lastState) announce('IBKR connection: ' + STATE_WORDS[state]);
    ui.lastState = state;
  }
  setText('status-message', s.message || '');

  const env = s.environment === 'live' || s.environment === 'paper' ? s.environment : '';
  const envEl = $('environment');
  setText('environment', env || '—');
  envEl.dataset.environment = env;
  $('live-warning').hidden = env !== 'live';
  setText('account', s.account_id || s.accountId || '—');
  setText('client-id', s.clientId || '—');
  setText('server', s.server ? [s.server.name, s.server.version].filter(Boolean).join(' ') : '—');
  const dev = s.mode === 'development';
  $('mode-banner').hidden = !dev;
  setText('daemon-mode', s.mode || '—');
  if (s.daemon) setText('daemon-version', 'ibkr-sessiond ' + s.daemon.version);

  // The multi-user summary (no token, or the admin's) has no session of its own to detail.
  const aggregate = !!s.multi_user && s.state == null;
  for (const e of document.querySelectorAll('.per-user')) e.hidden = aggregate;
  $('aggregate-note').hidden = !aggregate;
  renderSteps(s, state);
  renderTrouble(s, state);
  renderOnboarding(s, state);
  renderLastError(s);
  renderWarnings(s);
  renderGateway(s);
  renderMultiUser(s);
  tick();
}

function outcomeOf(d) {
  if (!d) return 'unknown';
  if (d.success) return 'passed';
  return d.at || d.status ? 'failed' : 'unknown';
}

function renderSteps(s, state) {
  const diag = s.diagnostics || {};
  for (const step of STEPS) {
    const li = document.querySelector('[data-step-indicator="' + step + '"]');
    const d = diag[step];
    const outcome = outcomeOf(d);
    li.dataset.outcome = outcome;
    const http = d && d.status ? 'HTTP ' + d.status : '';
    fillStep(li, outcome, http, d && ms(d.at) ? 'at ' + clock(ms(d.at)) : '', d && d.message !== http && !(outcome === 'passed' && d.message === 'ok') ? d.message : '');
  }
}

function fillStep(li, outcome, http, time, msg) {
  const words = { passed: 'Passed', failed: 'Failed', unknown: 'Unknown', running: 'Running…', skipped: 'Skipped' };
  li.querySelector('.outcome').textContent = words[outcome] || outcome;
  li.querySelector('.step-http').textContent = http;
  li.querySelector('.step-time').textContent = time;
  li.querySelector('.step-msg').textContent = msg || '';
}

// The step that failed: the latest Test Connection's, else the diagnostics', else last_error's.
function failedStep(s, state) {
  if (ui.test && ui.test.failed) return ui.test.failed;
  if (state === 'connected') return null;
  const diag = s.diagnostics || {};
  const bad = STEPS.find((st) => outcomeOf(diag[st]) === 'failed');
  if (bad) return bad;
  return (s.last_error && ERROR_STEP[s.last_error.step]) || null;
}

function renderTrouble(s, state) {
  const box = $('troubleshooting');
  const failed = failedStep(s, state);
  const keys = [];
  if (state === 'not_configured' && ui.role === 'user') keys.push('user_not_configured');
  else if (state !== 'connected') keys.push(state);
  if (failed) keys.push(failed);
  box.replaceChildren();
  if (!keys.length) { box.hidden = true; $('status-section').append(box); return; }
  box.hidden = false;
  const h = el('h4', null, failed ? 'Troubleshooting: ' + STEP_NAMES[failed] + ' step failed' : 'Troubleshooting');
  box.append(h);
  for (const key of keys) {
    const [title, items] = TROUBLE[key];
    box.append(el('p', null, title));
    const ul = el('ul');
    for (const item of items) ul.append(el('li', null, item));
    box.append(ul);
  }
  if ((state === 'not_configured' && ui.role !== 'user') || failed)
    box.append(el('p', null, 'See step 2 below for what each variable must contain.'));
  // Next to the failed step when one failed, else after the list.
  const anchor = failed ? document.querySelector('[data-step-indicator="' + failed + '"]') : $('step-indicators');
  if (failed) { if (box.parentElement !== anchor) anchor.append(box); }
  else if (anchor.nextElementSibling !== box) anchor.after(box);
}

function renderOnboarding(s, state) {
  const show = state !== 'connected';
  $('onboarding').hidden = !show;
  document.querySelector('[data-nav-for="onboarding"]').hidden = !show;
  if (!show) return;
  const mu = multiUser(s);
  const problems = Array.isArray(s.problems) ? s.problems : [];
  let intro;
  if (state === 'not_configured')
    intro = mu ? 'Your IBKR credentials are not configured yet: enter them in the credentials form below.'
      : 'The daemon is not configured. Set the variables below in its env file (or environment) and restart it.';
  else
    intro = 'The daemon is configured but not connected to IBKR. ' + (failedStep(s, state)
      ? 'The failed step shows what to check; ' : '') + 'run Test Connection to try each step now.';
  setText('onboarding-intro', intro);
  const list = $('onboarding-variables');
  list.replaceChildren();
  for (const p of problems) {
    const info = VARIABLES[p.variable] || {};
    const li = el('li');
    li.dataset.variable = p.variable;
    li.append(el('h3', null, p.variable + (info.label ? ' (' + info.label + ')' : '')));
    li.append(el('p', 'problem', p.message));
    if (info.contains) li.append(el('p', null, 'Must contain: ' + info.contains));
    if (info.source) li.append(el('p', null, 'Where it comes from: ' + info.source));
    if (mu && info.field) li.append(el('p', null, 'In the form below: ' + info.label + '.'));
    list.append(li);
  }
}

function renderLastError(s) {
  const e = s.last_error;
  if (!e) { setText('last-error', 'None'); return; }
  const parts = [e.step, e.kind].filter(Boolean).join(' · ');
  const http = e.http_status ? ' (HTTP ' + e.http_status + ')' : '';
  const at = ms(e.at) ? ' at ' + clock(ms(e.at)) : '';
  setText('last-error', parts + http + at + ': ' + (e.message || ''));
}

function renderWarnings(s) {
  const w = Array.isArray(s.warnings) ? s.warnings : [];
  $('warnings-box').hidden = !w.length;
  $('warnings').replaceChildren(...w.map((t) => el('li', null, t)));
}

function renderGateway(s) {
  const g = s.gateway;
  const show = !!g && typeof g === 'object' && g.enabled !== false;
  $('gateway-section').hidden = !show;
  if (!show) return;
  const ws = g.websockets || {};
  const rows = [['Clients', g.clients], ['HTTP', g.http], ['HTTPS', g.https], ['Requests waiting', g.waiting],
    ['Forwarded', g.forwarded], ['Upstream failures', g.upstream_failures],
    ['WebSockets open', ws.open == null ? null : ws.open + (ws.max ? ' of ' + ws.max : '')],
    ['WebSocket frames to clients', ws.frames_to_clients]];
  $('gateway').replaceChildren(...rows.filter(([, v]) => v != null && typeof v !== 'object').map(([k, v]) => {
    const d = el('div');
    d.append(el('dt', null, k), el('dd', null, String(v)));
    return d;
  }));
}

// Alerts whose countdowns move with the clock: rebuilt every second.
function renderAlerts(s) {
  const items = [];
  const until = (iso) => { const t = ms(iso); return t == null ? '' : ' (in ' + span((t - serverNow()) / 1000) + ')'; };
  if (s.halt_reason) items.push(['severe', 'halted', 'Halted: ' + s.halt_reason + '. The daemon makes no further calls until restarted.']);
  if (s.rate_limited)
    items.push(['severe', 'rate-limited', 'Rate limited by IBKR (429): no calls' +
      (s.rate_limited_until ? ' until ' + clock(ms(s.rate_limited_until)) + until(s.rate_limited_until) : '') + '.']);
  if (s.maintenance_window) {
    const w = s.maintenance_window;
    items.push(['info', 'maintenance', 'IBKR maintenance window (' + w.kind + '): ' + (w.description || '') +
      (w.end ? '; ends' + until(w.end) : '') + '.']);
  }
  if (s.throttled_until && ms(s.throttled_until) > serverNow()) {
    const b = s.login_budget || {};
    items.push(['', 'throttled', 'Throttled: next login' + until(s.throttled_until) +
      (b.per_hour ? '; ' + b.logins_last_hour + ' of ' + b.per_hour + ' logins used this hour' : '') + '.']);
  }
  if (s.brokerage && s.brokerage.competing) items.push(['', 'competing', 'Another session holds this IBKR username (competing).']);
  if (s.next_retry_at && ms(s.next_retry_at))
    items.push(['', 'retry', 'Next attempt in ' + span((ms(s.next_retry_at) - serverNow()) / 1000) +
      (s.consecutive_failures ? ' after ' + s.consecutive_failures + ' failure(s) in a row' : '') + '.']);
  const ul = $('alerts');
  const key = items.map((i) => i[2]).join('\n');
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.replaceChildren(...items.map(([cls, name, text]) => { const li = el('li', cls, text); li.dataset.alert = name; return li; }));
}

// Once a second: the time fields and countdowns, from the last status and the daemon's clock.
function tick() {
  const s = ui.status;
  if (!s) return;
  let expiry = null;
  if (typeof s.sso_expires_in_seconds === 'number') expiry = ui.receivedAt + s.sso_expires_in_seconds * 1000;
  else if (ms(s.sso_expires_at)) expiry = ms(s.sso_expires_at) - ui.skew;
  setText('sso-expiry', expiry == null ? '—' : expiry > Date.now() ? 'in ' + span((expiry - Date.now()) / 1000) : 'expired');
  const tickle = ms(s.last_tickle_at);
  setText('last-tickle', tickle == null ? '—' : span((serverNow() - tickle) / 1000) + ' ago');
  renderAlerts(s);
}

// ---- live updates: the event stream, polling while it is down ----
const live = { ctrl: null, backoff: BACKOFF_MIN_MS, retry: null, poll: null, lastData: 0 };

function setLive(mode) {
  const e = $('live-indicator');
  e.dataset.live = mode;
  setText('live-indicator', mode === 'stream' ? 'Live: event stream' : 'Polling every 30 s');
}

async function poll() {
  const r = await api('api/ibkr/status');
  if (r.ok) applyStatus(r.body);
  else if (r.status === 401 && ui.token) tokenRejected();
  else if (r.status === 0) showUnreachable();
  else if (!ui.status) setText('status-message', r.error);
}

// The daemon itself does not answer: whatever the page showed last is no longer known to be true.
function showUnreachable() {
  const cs = $('connection-state');
  setText('connection-state', 'Daemon Not Reachable');
  cs.dataset.state = 'unreachable';
  if (ui.lastState !== 'unreachable') announce('The daemon does not answer');
  ui.lastState = 'unreachable';
  setText('status-message', 'The daemon does not answer' + (ui.receivedAt ? '; what is shown below is as of ' +
    clock(ui.receivedAt) : '') + '. Retrying: is ibkr-sessiond running (systemctl status ibkr-sessiond)?');
}

function startPolling() {
  setLive('polling');
  if (live.poll) return;
  poll();
  live.poll = setInterval(poll, POLL_MS);
}
function stopPolling() { clearInterval(live.poll); live.poll = null; }

function restartStream() {
  if (live.ctrl) live.ctrl.abort();
  clearTimeout(live.retry);
  live.backoff = BACKOFF_MIN_MS;
  openStream();
}

function streamFailed(ctrl) {
  if (live.ctrl !== ctrl) return; // replaced by a newer stream
  live.ctrl = null;
  startPolling();
  clearTimeout(live.retry);
  live.retry = setTimeout(openStream, live.backoff);
  live.backoff = Math.min(live.backoff * 2, BACKOFF_MAX_MS);
}

async function openStream() {
  const ctrl = new AbortController();
  live.ctrl = ctrl;
  try {
    const res = await fetch('api/ibkr/events', {
      headers: Object.assign({ Accept: 'text/event-stream' }, bearer()),
      cache: 'no-store', credentials: 'same-origin', signal: ctrl.signal,
    });
    // A refused token is noticed by the polls (api/ibkr/status), which run while the stream is down.
    if (!res.ok || !res.body || !(res.headers.get('Content-Type') || '').startsWith('text/event-stream'))
      throw new Error('no stream');
    live.backoff = BACKOFF_MIN_MS;
    live.lastData = Date.now();
    stopPolling();
    setLive('stream');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      live.lastData = Date.now();
      buf += value;
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + buf.slice(cut).match(/^\r?\n\r?\n/)[0].length);
        onEvent(block);
      }
    }
  } catch { /* aborted or failed: handled below */ }
  if (ctrl.signal.aborted && live.ctrl !== ctrl) return;
  streamFailed(ctrl);
}

function onEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (name !== 'status' || !data.length) return;
  try { applyStatus(JSON.parse(data.join('\n'))); } catch { /* a malformed event is skipped */ }
}

// A stream that went silent (no heartbeat) is dead even if the socket is not.
setInterval(() => {
  if (live.ctrl && $('live-indicator').dataset.live === 'stream' && Date.now() - live.lastData > STREAM_SILENCE_MS) {
    const c = live.ctrl;
    c.abort();
    streamFailed(c);
  }
}, 5000);

// ---- sign-in ----
async function signIn(token) {
  ui.token = token;
  const r = await api('api/whoami');
  if (r.status === 401 || r.status === 403) {
    ui.token = null;
    return 'That token was not accepted.';
  }
  if (!r.ok && r.status !== 404) { ui.token = null; return r.error; }
  // 404: a daemon without api/whoami; the token is kept and checked by the calls that need it.
  ui.role = r.ok ? r.body.role : null;
  ui.userId = r.ok && r.body.role === 'user' ? r.body.id : null;
  sessionStorage.setItem(TOKEN_KEY, token);
  return null;
}

function signedInUi() {
  const on = !!ui.token;
  $('session-info').hidden = !on;
  $('signin-section').hidden = on;
  document.querySelector('[data-nav-for="signin-section"]').hidden = on;
  setText('whoami-text', !on ? '' : ui.role === 'user' ? 'Signed in as ' + ui.userId
    : ui.role === 'admin' ? 'Signed in as admin' : 'Signed in');
  const user = on && ui.role === 'user';
  $('credentials-section').hidden = !user;
  document.querySelector('[data-nav-for="credentials-section"]').hidden = !user;
  if (user) loadCredentials();
  renderMultiUser(ui.status);
}

function tokenRejected() {
  signOut();
  setText('token-error', 'Your token is no longer accepted: sign in again.');
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  ui.token = ui.role = ui.userId = null;
  ui.pendingTest = false;
  $('users-table').tBodies[0].replaceChildren();
  $('audit-table').tBodies[0].replaceChildren();
  setText('key-fingerprint', 'none stored');
  $('credentials-form').reset();
  ui.pendingKey = null;
  setText('key-file-note', '');
  signedInUi();
  restartStream();
}

$('token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('token-input');
  const token = input.value.trim();
  input.value = '';
  setText('token-error', '');
  if (!token) { setText('token-error', 'Enter your token.'); input.focus(); return; }
  $('token-submit').disabled = true;
  const err = await signIn(token);
  $('token-submit').disabled = false;
  if (err) { setText('token-error', err); input.setAttribute('aria-invalid', 'true'); input.focus(); return; }
  input.removeAttribute('aria-invalid');
  signedInUi();
  restartStream();
  if (ui.pendingTest) { ui.pendingTest = false; runTest(); }
});
$('signout').addEventListener('click', signOut);

// ---- Test Connection ----
async function runTest() {
  if (!ui.token) {
    ui.pendingTest = true;
    $('signin-section').hidden = false;
    setText('signin-hint', 'Test Connection needs your token: sign in first.');
    $('token-input').focus();
    return;
  }
  const btn = $('test-connection');
  btn.disabled = true;
  setText('test-summary', 'Testing…');
  for (const step of STEPS) {
    const li = document.querySelector('[data-test-step="' + step + '"]');
    li.dataset.outcome = 'running';
    fillStep(li, 'running', '', '', '');
  }
  const r = await api('api/ibkr/test', { method: 'POST' });
  btn.disabled = false;
  if (r.status === 401) { tokenRejected(); showTest(null, r.error); return; }
  showTest(r.body, r.ok ? null : r.error);
  if (ui.status) render();
}

// The daemon's step_results list, by step.
function testSteps(body) {
  const out = {};
  for (const r of (body && body.step_results) || [])
    out[r.step] = { outcome: r.outcome, http: r.http_status, ms: r.duration_ms, detail: r.detail };
  return out;
}

function showTest(body, error) {
  const steps = testSteps(body);
  let failed = body && body.failed_step ? ERROR_STEP[body.failed_step] || body.failed_step : null;
  for (const step of STEPS) {
    const li = document.querySelector('[data-test-step="' + step + '"]');
    const r = steps[step];
    const outcome = r && ['passed', 'failed', 'skipped'].includes(r.outcome) ? r.outcome : 'skipped';
    if (outcome === 'failed' && !failed) failed = step;
    li.dataset.outcome = outcome;
    fillStep(li, outcome, r && r.http ? 'HTTP ' + r.http : '', r && typeof r.ms === 'number' ? r.ms + ' ms' : '',
      r ? r.detail : error ? 'not run' : '');
  }
  ui.test = { failed: STEPS.includes(failed) ? failed : null };
  let summary;
  if (error && !Object.keys(steps).length) {
    summary = 'Test Connection failed: ' + error;
    const problems = body && Array.isArray(body.problems) ? body.problems : [];
    if (problems.length) summary += ' (' + problems.map((p) => p.variable).join(', ') + ')';
  } else if (body && body.message) summary = body.message;
  else if (body && (body.passed || body.success)) summary = 'All four steps passed.';
  else summary = 'Test failed' + (failed ? ' at ' + STEP_NAMES[failed] : '') + (error ? ': ' + error : '.');
  setText('test-summary', summary);
}
$('test-connection').addEventListener('click', runTest);

// ---- credentials (multi-user, a user) ----
const credForm = $('credentials-form');
const credPath = () => 'api/users/' + encodeURIComponent(ui.userId) + '/ibkr-credentials';

function clearFieldErrors() {
  for (const e of credForm.querySelectorAll('[data-error-for]')) e.textContent = '';
  for (const e of credForm.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

function showFingerprint(meta) {
  setText('key-fingerprint', meta && meta.key_fingerprint ? meta.key_fingerprint : 'none stored');
}

async function loadCredentials() {
  if (!ui.userId) return;
  const r = await api(credPath());
  if (!r.ok) return; // 404: none stored yet
  const m = r.body || {};
  const values = { client_id: m.client_id, client_key_id: m.client_key_id, credential: m.username,
    account_id: m.account_id, allowed_ip: m.allowed_ip, environment: m.environment, scope: m.scope };
  for (const [name, v] of Object.entries(values)) if (v != null && credForm.elements[name]) credForm.elements[name].value = v;
  showFingerprint(m);
}

$('private-key-file').addEventListener('change', (ev) => {
  const file = ev.target.files && ev.target.files[0];
  ui.pendingKey = null;
  setText('key-file-note', '');
  if (!file) return;
  if (file.size > 64 * 1024) { setText('key-file-note', 'That file is too large for a PEM key.'); ev.target.value = ''; return; }
  const reader = new FileReader();
  // The key is held in memory, not put in the textarea, so it never shows on the page.
  reader.onload = () => { ui.pendingKey = String(reader.result); setText('key-file-note', 'Key read from ' + file.name + ' (not shown); it is sent when you save.'); };
  reader.onerror = () => setText('key-file-note', 'The file could not be read.');
  reader.readAsText(file);
});

credForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearFieldErrors();
  setText('credentials-result', '');
  const f = credForm.elements;
  const pasted = f.private_key.value.trim();
  const body = {
    client_id: f.client_id.value.trim(), client_key_id: f.client_key_id.value.trim(),
    private_key: pasted ? f.private_key.value : ui.pendingKey || '',
    credential: f.credential.value.trim(), account_id: f.account_id.value.trim(),
    allowed_ip: f.allowed_ip.value.trim(), environment: f.environment.value,
  };
  if (f.scope.value.trim()) body.scope = f.scope.value.trim();
  $('credentials-submit').disabled = true;
  setText('credentials-result', 'Saving…');
  const r = await api(credPath(), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  $('credentials-submit').disabled = false;
  if (r.ok) {
    // The key is never echoed back: drop it from the form and from memory.
    f.private_key.value = '';
    $('private-key-file').value = '';
    ui.pendingKey = null;
    setText('key-file-note', '');
    showFingerprint(r.body);
    setText('credentials-result', r.status === 201 ? 'Credentials saved.' : 'Credentials replaced.');
    poll();
    return;
  }
  if (r.status === 401) { tokenRejected(); return; }
  setText('credentials-result', 'Not saved: ' + r.error);
  const errors = r.body && Array.isArray(r.body.errors) ? r.body.errors : [];
  for (const e of errors) {
    const slot = credForm.querySelector('[data-error-for="' + CSS.escape(e.field || '') + '"]') || $('err-form');
    slot.textContent = slot.textContent ? slot.textContent + ' ' + e.message : e.message;
    if (e.field && f[e.field]) f[e.field].setAttribute('aria-invalid', 'true');
    if (e.field === 'private_key') { f.private_key.value = ''; $('private-key-file').value = ''; ui.pendingKey = null; setText('key-file-note', ''); }
  }
  const first = credForm.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
});

// ---- admin (multi-user) ----
let adminLoaded = false;
function renderMultiUser(s) {
  const admin = ui.role === 'admin' && multiUser(s);
  $('admin-section').hidden = !admin;
  document.querySelector('[data-nav-for="admin-section"]').hidden = !admin;
  if (!admin) { adminLoaded = false; return; }
  const m = s.multi_user;
  if (m) {
    const states = Object.entries(m.by_state || {}).map(([k, v]) => v + ' ' + k).join(', ');
    setText('multi-user-summary', m.users + ' user(s)' + (states ? ': ' + states : '') + '. Database ' + m.database + '.');
  }
  // The users' states follow the status stream: the first page is read again when the counts change.
  const key = m ? JSON.stringify([m.users, m.by_state]) : '';
  if (!adminLoaded) { adminLoaded = true; ui.usersKey = key; loadUsers(null); loadAudit(null); }
  else if (key !== ui.usersKey) { ui.usersKey = key; loadUsers(null); }
}

async function loadUsers(after) {
  const r = await api('api/users?limit=100' + (after ? '&after=' + encodeURIComponent(after) : ''));
  if (ui.role !== 'admin') return;
  if (!r.ok) { setText('admin-error', 'Users: ' + r.error); return; }
  const tbody = $('users-table').tBodies[0];
  if (!after) tbody.replaceChildren();
  for (const u of r.body.users || []) {
    const tr = el('tr');
    tr.dataset.user = u.id;
    const state = String(u.state || '');
    const td = el('td');
    td.append(el('span', 'state-badge ' + (/^connected\b/.test(state) ? 'connected' : 'down'), state));
    tr.append(el('td', null, u.id), td);
    tbody.append(tr);
  }
  ui.usersNext = r.body.next || null;
  $('users-next').hidden = !ui.usersNext;
}

async function loadAudit(after) {
  const r = await api('api/audit?limit=50' + (after != null ? '&after=' + encodeURIComponent(after) : ''));
  if (ui.role !== 'admin') return;
  if (!r.ok) { setText('admin-error', 'Audit log: ' + r.error); return; }
  setText('admin-error', '');
  const tbody = $('audit-table').tBodies[0];
  const rows = (r.body.entries || []).map((e) => {
    const tr = el('tr');
    const details = e.details == null ? '' : typeof e.details !== 'object' ? String(e.details)
      : Object.entries(e.details).map(([k, v]) => k + ': ' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ');
    tr.append(el('td', null, String(e.seq)), el('td', null, ms(e.at) ? clock(ms(e.at)) : String(e.at || '')),
      el('td', null, [e.actor, e.source].filter(Boolean).join(' · ')), el('td', null, e.action || ''),
      el('td', null, e.target || ''), el('td', null, e.outcome || ''), el('td', null, details));
    return tr;
  });
  if (!rows.length) { const tr = el('tr'); const td = el('td', null, 'No entries.'); td.colSpan = 7; tr.append(td); rows.push(tr); }
  tbody.replaceChildren(...rows);
  if (after == null) ui.auditAfter = [];
  ui.auditNext = r.body.next_after != null ? r.body.next_after : null;
  $('audit-next').hidden = ui.auditNext == null;
  $('audit-first').hidden = after == null;
}
$('audit-next').addEventListener('click', () => loadAudit(ui.auditNext));
$('audit-first').addEventListener('click', () => loadAudit(null));
$('users-next').addEventListener('click', () => loadUsers(ui.usersNext));

// ---- start ----
// The four step rows of both lists: [data-step-indicator] (status) and [data-test-step] (Test Connection).
for (const [list, attr] of [['step-indicators', 'stepIndicator'], ['test-results', 'testStep']]) {
  $(list).replaceChildren(...STEPS.map((step, i) => {
    const li = el('li');
    li.dataset[attr] = step;
    const row = el('div', 'step-row');
    row.append(el('span', 'step-name', i + 1 + '. ' + STEP_NAMES[step]), el('span', 'outcome', attr === 'testStep' ? 'Not run' : 'Unknown'),
      el('span', 'step-http'), el('span', 'step-time'));
    li.append(row, el('p', 'step-msg'));
    if (attr === 'stepIndicator') li.dataset.outcome = 'unknown';
    return li;
  }));
}
for (const [field, variable] of Object.entries(FIELD_TO_VARIABLE)) {
  const hint = document.querySelector('[data-hint-for="' + field + '"]');
  if (hint) hint.textContent = VARIABLES[variable].contains + ' ' + VARIABLES[variable].source;
}
$('token-submit').disabled = false;
$('credentials-submit').disabled = false;
setInterval(tick, 1000);

(async () => {
  const saved = sessionStorage.getItem(TOKEN_KEY);
  ui.token = saved;
  poll(); // first paint without waiting for the stream
  openStream();
  if (saved) {
    const err = await signIn(saved);
    if (err) { tokenRejected(); return; }
  }
  signedInUi();
})();
