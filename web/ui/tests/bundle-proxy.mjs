// The strata binary embeds web/ui/dist when it is compiled. When the binary
// under test was built from another commit than this checkout's dist/ (the
// UI changed, the Rust did not get rebuilt), the browser test would drive
// the old bundle. This proxy sits in front of the server and swaps only the
// bundle: wherever the server answers its UI page (text/html), the
// committed dist/index.html is sent instead, and /assets/* come from
// dist/. Everything else — the API, redirects, which paths are UI pages,
// 404s — is the server's own answer, byte for byte.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };

/** True when the server already serves this dist's index.html. */
export async function servesBundle(upstream, distDir) {
  const res = await fetch(`${upstream}/query`, { headers: { 'Accept-Encoding': 'identity' } });
  return (await res.text()) === readFileSync(join(distDir, 'index.html'), 'utf8');
}

export async function startBundleProxy(upstream, distDir) {
  const up = new URL(upstream);
  const index = readFileSync(join(distDir, 'index.html'));
  const server = createServer((req, res) => {
    const path = req.url.split('?')[0];
    if (req.method === 'GET' && path.startsWith('/assets/')) {
      const file = normalize(join(distDir, path));
      if (file.startsWith(join(distDir, 'assets')) && existsSync(file)) {
        res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' });
        res.end(readFileSync(file));
        return;
      }
    }
    const headers = { ...req.headers, host: up.host };
    // Plain bodies, and no 304 from the server's ETag for its own bundle.
    delete headers['accept-encoding'];
    delete headers['if-none-match'];
    const fwd = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (r) => {
      const html = r.statusCode === 200 && String(r.headers['content-type'] || '').startsWith('text/html');
      if (html) {
        r.resume();
        const h = { ...r.headers, 'content-length': String(index.length) };
        delete h.etag;
        res.writeHead(200, h);
        res.end(index);
        return;
      }
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    fwd.on('error', (e) => {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`proxy: ${e.message}`);
    });
    req.pipe(fwd);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections();
      }),
  };
}
