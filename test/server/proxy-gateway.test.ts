import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { request } from '../helpers/http.js';
import { assertDrains, latch } from './drain.js';
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
  // An upstream that says when the request reached it and answers only when told to.
  const arrival = latch();
  const release = latch();
  const upstream = createServer((_req, res) => {
    arrival.open();
    void release.opened.then(() => res.end('done'));
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const { port } = upstream.address() as AddressInfo;
  const t = await startGateway({ SHUTDOWN_TIMEOUT: '60s', UPSTREAM_URL: `http://127.0.0.1:${port}` });
  try {
    const inflight = request(`${t.url}/api/slow`);
    await arrival.opened;
    await assertDrains(t.url, t.gw.shutdown(), inflight, release.open);
  } finally {
    release.open();
    await t.close();
    upstream.closeAllConnections();
    upstream.close();
  }
});

test('a proxied request still waiting for the upstream at SHUTDOWN_TIMEOUT gets 503 HEADROOM_DRAINING, not a closed connection', async () => {
  const arrival = latch();
  const upstream = createServer(() => arrival.open()); // never answers
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const { port } = upstream.address() as AddressInfo;
  const t = await startGateway({ SHUTDOWN_TIMEOUT: '200', UPSTREAM_URL: `http://127.0.0.1:${port}` });
  try {
    const inflight = request(`${t.url}/api/slow`);
    await arrival.opened;
    await t.gw.shutdown();
    const r = await inflight;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json().error.code, 'HEADROOM_DRAINING');
    assert.equal(r.headers['retry-after'], '1');
    assert.ok(
      t.logs.some((l) => l.includes('drain timeout reached')),
      'the timeout path ran',
    );
  } finally {
    await t.close();
    upstream.closeAllConnections();
    upstream.close();
  }
});
