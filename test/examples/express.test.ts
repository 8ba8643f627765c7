// examples/express as a user runs it: a copy of the folder, `npm install` (the package packed as
// npm packs it, see install.ts), `npm start` — its server.js unchanged.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request } from '../helpers/http.js';
import { installExample } from '../helpers/install.js';

test(
  'examples/express: npm install && npm start serve health, metrics, the proxy and its own JSON route; SIGTERM ends it',
  { timeout: 300_000 },
  async () => {
    const example = await installExample('express');
    const seen: string[] = [];
    const seenAuth: (string | undefined)[] = [];
    const upstream = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      seenAuth.push(req.headers.authorization);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    // An empty variable counts as unset, as in the gateway's configuration (the admin API stays off).
    const app = example.start({ PORT: '0', UPSTREAM_URL: upstreamUrl, APP_TOKEN: 't0k3n', HEADROOM_ADMIN_TOKEN: '' });
    const child = app.child;
    try {
      const url = (await app.waitForOutput(/listening on (http:\/\/\S+)/))[1]!;
      const health = await request(`${url}/health`);
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json().status, 'healthy');
      assert.equal((await request(`${url}/health/ready`)).status, 200);
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight /m);
      assert.equal((await request(`${url}/api/items/3`)).status, 401, "the app's auth protects /api too");
      const proxied = await request(`${url}/api/items/3?fields=a,b`, { headers: { authorization: 'Bearer t0k3n' } });
      assert.equal(proxied.status, 200, proxied.text);
      assert.deepEqual(seen, ['GET /items/3?fields=a,b']);
      assert.equal(seenAuth.at(-1), undefined, "the app's token is not passed to the upstream");
      const malformed = await request(`${url}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer t0k3n' },
        body: '{"text":',
      });
      assert.equal(malformed.status, 400);
      assert.equal(
        malformed.headers['content-type']?.toString().startsWith('application/json'),
        true,
        'a JSON error, not an HTML stack trace',
      );
      const note = { headers: { 'content-type': 'application/json' }, method: 'POST', body: JSON.stringify({ text: 'hi' }) };
      assert.equal((await request(`${url}/notes`, note)).status, 401);
      const created = await request(`${url}/notes`, { ...note, headers: { ...note.headers, authorization: 'Bearer t0k3n' } });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.json(), { note: { text: 'hi', length: 2 } });
      assert.equal((await request(`${url}/admin/memory-stats`)).status, 403, 'no HEADROOM_ADMIN_TOKEN: the admin API is off');

      // SIGTERM to npm reaches the app (the start script execs node) and it ends by itself.
      child.kill('SIGTERM');
      assert.deepEqual(await app.exited, { code: 0, signal: null }, app.output());
    } finally {
      app.kill();
      upstream.close();
      example.remove();
    }
  },
);
