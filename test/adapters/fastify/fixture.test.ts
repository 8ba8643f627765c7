// The Fastify conformance fixture as a child process: its routes work, the app's auth covers the
// proxy and the image route, and SIGTERM drains (readiness 503, in-flight finish, new app requests
// refused) then exits 0 by itself — which proves close() left no handle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnWatched } from '../../cli/child.js';
import { request } from '../../helpers/http.js';
import { waitFor } from '../../helpers/wait.js';
import { startUpstream } from '../../proxy/helpers.js';

const dir = fileURLToPath(new URL('../../fixtures/apps/fastify/', import.meta.url));
const fixture = JSON.parse(readFileSync(`${dir}fixture.json`, 'utf8')) as { command: string[]; cwd: string };

test('the Fastify fixture serves the contract and stops on SIGTERM with exit 0', { timeout: 60_000 }, async () => {
  const up = await startUpstream((req, res) => res.end(JSON.stringify({ url: req.url })));
  const [cmd, ...args] = fixture.command;
  const app = spawnWatched(cmd === 'node' ? process.execPath : cmd!, args, {
    cwd: new URL(fixture.cwd, `file://${dir}`).pathname,
    env: { PORT: '0', HOST: '127.0.0.1', UPSTREAM_URL: up.url, IMAGE_ORIGIN: up.url, HEADROOM_ADMIN_TOKEN: 'fixture-token-0123456789' },
  });
  try {
    const url = (await app.waitForOutput(/HEADROOM_FIXTURE_LISTENING (\S+)/))[1]!;
    assert.deepEqual((await request(`${url}/app/hello`)).json(), { hello: 'world' });
    const echo = await request(`${url}/app/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    assert.deepEqual(echo.json(), { received: { a: 1 } });
    assert.deepEqual((await request(`${url}/api/echo?x=4&y=%2F`)).json(), { url: '/echo?x=4&y=%2F' });
    const deny = { 'x-deny': '1' };
    for (const path of ['/api/echo', `/image?url=${encodeURIComponent(`${up.url}/a.png`)}&w=10`, '/app/hello']) {
      assert.equal((await request(`${url}${path}`, { headers: deny })).status, 401, path);
    }
    assert.equal((await request(`${url}/health/ready`, { headers: deny })).status, 200);
    assert.equal((await request(`${url}/metrics`, { headers: deny })).status, 200);
    // From here on the upstream is never called: not for the parsed body, nor during shutdown.
    const calls = up.received.length;
    const parsed = await request(`${url}/parsed-api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(parsed.status, 500);
    assert.equal(parsed.json().error.code, 'HEADROOM_BODY_CONSUMED');
    assert.equal(up.received.length, calls, 'the parsed body never reached the upstream');
    assert.equal((await request(`${url}/admin/memory-stats`, { headers: { authorization: 'Bearer wrong-wrong-wrong' } })).status, 401);

    const slow = request(`${url}/app/slow?ms=1500`);
    await waitFor(async () => /^headroom_app_requests_in_flight 1$/m.test((await request(`${url}/metrics`)).text), 'slow in flight');
    app.child.kill('SIGTERM');
    await waitFor(async () => (await request(`${url}/health/ready`)).status === 503, 'readiness 503');
    const refused = await request(`${url}/app/hello`);
    assert.equal(refused.status, 503);
    assert.equal(refused.json().error.code, 'HEADROOM_DRAINING');
    assert.deepEqual((await slow).json(), { slept: 1500 });
    assert.deepEqual(await app.exited, { code: 0, signal: null });
    assert.equal(up.received.length, calls);
  } finally {
    app.kill();
    await up.close();
  }
});
