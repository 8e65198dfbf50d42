// --web-dir DIR (development aid, not what ctest runs): serves the pages from DIR as the contract
// says (same headers as the daemon) and passes every other request to the daemon unchanged, so that
// the pages can be tried against a daemon binary built before they changed. In-process: closed by
// run.mjs with the scenario.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
const HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY', 'Cache-Control': 'no-cache',
};

export async function startWebDirProxy(webDir, daemonPort) {
  const server = http.createServer((req, res) => {
    const p = req.url.split('?')[0];
    const file = p === '/' ? 'index.html' : p.slice(1);
    const full = path.join(webDir, file);
    if (req.method === 'GET' && !file.includes('/') && /^[\w.-]+$/.test(file) && fs.existsSync(full)) {
      res.writeHead(200, { ...HEADERS, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(fs.readFileSync(full));
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: daemonPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => { server.closeAllConnections(); server.close(); } };
}
