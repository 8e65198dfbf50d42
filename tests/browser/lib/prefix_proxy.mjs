// A reverse proxy that serves the daemon under a path prefix, as the README's nginx example does
// (`location /ibkr/ { proxy_pass http://127.0.0.1:PORT/; }`): /ibkr/... is forwarded to the daemon
// as /..., answers streamed back as they come (the event stream included); anything else is 404.
import http from 'node:http';

export function startPrefixProxy(prefix, daemonPort) {
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(prefix + '/')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not under ' + prefix + '/\n');
      return;
    }
    const upstream = http.request({
      host: '127.0.0.1', port: daemonPort, method: req.method, path: req.url.slice(prefix.length),
      headers: Object.assign({}, req.headers, { host: '127.0.0.1:' + daemonPort }),
    }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => { res.destroy(); });
    res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });  // the browser went away
    req.pipe(upstream);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({
      base: `http://127.0.0.1:${server.address().port}${prefix}`,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    }));
  });
}
