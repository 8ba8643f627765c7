// examples/fastify as a user runs it: a copy of the folder, `npm install` (the package packed as
// npm packs it, see install.ts), `npm start` — its server.js unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CliChild } from '../cli/child.js';
import { request } from '../helpers/http.js';
import { startUpstream } from '../proxy/helpers.js';
import { installExample } from '../helpers/install.js';

test(
  'examples/fastify: npm install && npm start; proxy behind its auth hook, its JSON route, health, metrics, SIGTERM exit 0',
  { timeout: 300_000 },
  async () => {
    const example = await installExample('fastify');
    const up = await startUpstream((req, res) => res.end(JSON.stringify({ url: req.url, key: req.headers['x-api-key'] ?? null })));
    let app: CliChild | undefined;
    try {
      app = example.start({ PORT: '0', UPSTREAM_URL: up.url, APP_API_KEY: 'example-key', LOG_LEVEL: 'info', HEADROOM_ADMIN_TOKEN: '' });
      const url = (await app.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      const key = { 'x-api-key': 'example-key' };

      assert.equal((await request(`${url}/api/items?x=1`)).status, 401, 'the auth hook covers the proxy');
      assert.equal(up.received.length, 0);
      assert.deepEqual(
        (await request(`${url}/api/items?x=1`, { headers: key })).json(),
        { url: '/items?x=1', key: null },
        "the app's key is not passed on",
      );
      const note = await request(`${url}/notes`, {
        method: 'POST',
        headers: { ...key, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'hi' }),
      });
      assert.equal(note.status, 201, note.text);
      assert.equal(note.json().saved.text, 'hi');
      assert.equal((await request(`${url}/notes`, { method: 'POST', body: '{}' })).status, 401);
      assert.equal((await request(`${url}/health`)).json().status, 'healthy');
      assert.equal((await request(`${url}/health/ready`)).status, 200);
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 0$/m);
      assert.equal((await request(`${url}/admin/memory-stats`)).status, 403);

      app.child.kill('SIGTERM');
      assert.deepEqual(await app.exited, { code: 0, signal: null }, app.output());
    } finally {
      app?.kill();
      await up.close();
      example.remove();
    }
  },
);
