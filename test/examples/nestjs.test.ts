// examples/nestjs as a user runs it (CommonJS, no build step): a copy of the folder, `npm install`
// (the package packed as npm packs it, see install.ts), `npm start`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CliChild } from '../cli/child.js';
import { request } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../adapters/nestjs/app.js';
import { installExample, type InstalledExample } from '../helpers/install.js';

describe('examples/nestjs', { timeout: 300_000 }, () => {
  let upstream: Upstream;
  let example: InstalledExample | undefined;
  let app: CliChild;
  let url: string;

  before(async () => {
    example = await installExample('nestjs');
    upstream = await startUpstream();
    app = example.start({ PORT: '0', UPSTREAM_URL: upstream.url, API_KEY: 'example-key' });
    url = (await app.waitForOutput(/listening on (http:\/\/\S+)/))[1]!;
  });

  after(async () => {
    app?.kill();
    await upstream?.close();
    example?.remove();
  });

  test('health and metrics answer without the API key', async () => {
    assert.equal((await request(`${url}/health/ready`)).status, 200);
    assert.equal((await request(`${url}/health`)).json().status, 'healthy');
    assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight /m);
  });

  test("/api/* is proxied behind the app's guard, path and query kept", async () => {
    assert.equal((await request(`${url}/api/users?x=1`)).status, 401);
    const r = await request(`${url}/api/users?x=1&y=%2F`, {
      method: 'POST',
      headers: { 'x-api-key': 'example-key', 'content-type': 'application/json' },
      body: '{"name":"ada"}',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { method: 'POST', url: '/users?x=1&y=%2F', body: '{"name":"ada"}', contentType: 'application/json' });
  });

  test('the JSON route of its own is behind the body parser and the guard', async () => {
    const body = '{"text":"hi"}';
    assert.equal((await request(`${url}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 401);
    const r = await request(`${url}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'example-key' },
      body,
    });
    assert.equal(r.status, 201);
    assert.deepEqual(r.json(), { saved: { text: 'hi' } });
  });

  test('SIGTERM: the process closes everything and exits with code 0', async () => {
    app.child.kill('SIGTERM');
    assert.deepEqual(await app.exited, { code: 0, signal: null }, app.output());
  });
});
