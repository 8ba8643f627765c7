// examples/next as a user runs it: a copy of the folder, `npm install` (the package packed as npm
// packs it, see install.ts; next, react and react-dom from npm's cache), `npm start` — which is
// `next build && exec node server.mjs`, unchanged. Everything Turbopack compiles is inside the copy.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request } from '../helpers/http.js';
import { installExample } from '../helpers/install.js';

test(
  'examples/next: npm install && npm start (next build, then server.mjs) serve health, metrics, the proxy route and its own JSON route; SIGTERM ends it',
  { timeout: 600_000 },
  async () => {
    const example = await installExample('next');
    const seen: string[] = [];
    const upstream = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    // CI=1: Next never tries to install packages it thinks are missing.
    const app = example.start({ PORT: '0', UPSTREAM_URL: upstreamUrl, APP_TOKEN: 't0k3n', CI: '1', NEXT_TELEMETRY_DISABLED: '1' });
    try {
      const url = (await app.waitForOutput(/listening on (http:\/\/\S+)/))[1]!;
      const health = await request(`${url}/health`);
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json().status, 'healthy');
      assert.equal((await request(`${url}/health/ready`)).status, 200);
      const metrics = (await request(`${url}/metrics`)).text;
      assert.match(metrics, /^headroom_proxy_/m, 'the proxy from instrumentation.js is in the one registry');

      const proxied = await request(`${url}/api/items/3?fields=a,b`);
      assert.equal(proxied.status, 200, proxied.text);
      // Next re-serialises the query (docs/frameworks/next.md): "," arrives as %2C, the same value.
      assert.deepEqual(seen, ['GET /items/3?fields=a%2Cb']);
      const upload = await request(`${url}/api/upload`, { method: 'PUT', body: 'x'.repeat(100_000) });
      assert.equal(upload.status, 200, upload.text);
      assert.equal(seen.at(-1), 'PUT /upload');
      // The prefix itself ([[...path]]) and a trailing slash (skipTrailingSlashRedirect) reach the upstream too.
      assert.equal((await request(`${url}/api?q=1`)).status, 200);
      assert.equal(seen.at(-1), 'GET /?q=1');
      const slash = await request(`${url}/api/items/`, { method: 'POST', body: 'b' });
      assert.equal(slash.status, 200, slash.text);
      assert.equal(seen.at(-1), 'POST /items/');

      const note = { headers: { 'content-type': 'application/json' }, method: 'POST', body: JSON.stringify({ text: 'hi' }) };
      const denied = await request(`${url}/notes`, note);
      assert.equal(denied.status, 401, denied.text);
      const created = await request(`${url}/notes`, { ...note, headers: { ...note.headers, authorization: 'Bearer t0k3n' } });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.json(), { note: { text: 'hi', length: 2 } });
      assert.equal((await request(`${url}/admin/memory-stats`)).status, 404, 'the example mounts no admin route');

      // SIGTERM to npm reaches the app (the start script execs node): headroom's gracefulShutdown
      // closes everything and the process ends by itself.
      app.child.kill('SIGTERM');
      assert.deepEqual(await app.exited, { code: 0, signal: null }, app.output());
    } finally {
      app.kill();
      upstream.close();
      example.remove();
    }
  },
);
