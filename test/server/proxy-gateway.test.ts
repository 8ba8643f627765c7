import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { parsePrometheus } from './prometheus.js';

test('demo mode: /api is streamed to the demo origin, cached, counted and exported', async () => {
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    const first = await request(`${t.url}/api/items`);
    assert.equal(first.status, 200);
    assert.equal(first.json().total, 50);
    const second = await request(`${t.url}/api/items`);
    assert.equal(second.status, 200);
    assert.ok(second.headers.age !== undefined, 'second answer comes from the cache with Age');

    const big = await request(`${t.url}/api/download?size=${5 * 1024 * 1024}`);
    assert.equal(big.status, 200);
    assert.equal(big.body.length, 5 * 1024 * 1024);

    const stats = await request(`${t.url}/admin/proxy-stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(stats.status, 200);
    assert.equal(typeof stats.json(), 'object');
    const types = parsePrometheus((await request(`${t.url}/metrics`)).text);
    assert.ok([...types.keys()].some((k) => k.startsWith('headroom_proxy_')));
  } finally {
    await t.close();
  }
});

test('ENABLE_STREAMING_PROXY=false turns the proxy routes off with a clear 404', async () => {
  const t = await startGateway({ ENABLE_STREAMING_PROXY: 'false' });
  try {
    const res = await request(`${t.url}/api/items`);
    assert.equal(res.status, 404);
    assert.match(res.json().error.message, /ENABLE_STREAMING_PROXY/);
  } finally {
    await t.close();
  }
});

test('shutdown lets an in-flight proxied request finish', async () => {
  const t = await startGateway({ SHUTDOWN_TIMEOUT: '5000' });
  try {
    const inflight = request(`${t.url}/api/slow?ms=400`);
    await new Promise((r) => setTimeout(r, 100));
    const closing = t.gw.shutdown();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { waitedMs: 400 });
    await closing;
  } finally {
    await t.close();
  }
});
