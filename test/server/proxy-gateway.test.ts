import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { portClosed } from '../helpers/net.js';
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
  let arrived!: () => void;
  const reached = new Promise<void>((r) => (arrived = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const upstream = createServer((_req, res) => {
    arrived();
    void released.then(() => res.end('done'));
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const { port } = upstream.address() as AddressInfo;
  const t = await startGateway({ SHUTDOWN_TIMEOUT: '60s', UPSTREAM_URL: `http://127.0.0.1:${port}` });
  try {
    const inflight = request(`${t.url}/api/slow`);
    await reached;
    const closing = t.gw.shutdown();
    let closed = false;
    void closing.then(() => (closed = true));
    await waitFor(() => portClosed(t.url), 'the listener to close');
    assert.equal(closed, false, 'shutdown waits for the in-flight request');
    release();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.equal(res.text, 'done');
    await closing;
  } finally {
    release();
    await t.close();
    upstream.closeAllConnections();
    upstream.close();
  }
});
