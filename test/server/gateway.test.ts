import { test, describe, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { assertDrains, latch } from './drain.js';
import { parsePrometheus } from './prometheus.js';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

test('a HEAP_SNAPSHOT_DIR that cannot take snapshots stops start-up (admin API on); a good one is checked without a trace', async () => {
  await assert.rejects(startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, HEAP_SNAPSHOT_DIR: '/proc/headroom-nope' }), {
    code: 'HEADROOM_CONFIG_INVALID',
    message: /^HEAP_SNAPSHOT_DIR=\/proc\/headroom-nope: .* \(heap snapshots are written there on POST \/admin\/heap-snapshot\)$/,
  });
  const dir = join(tmpdir(), `headroom-snapdir-${process.pid}`);
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, HEAP_SNAPSHOT_DIR: dir });
  try {
    assert.equal(existsSync(dir), false, 'made for the check, then removed: made for real at the first snapshot');
  } finally {
    await t.close();
  }
});

describe('METRICS_TOKEN', () => {
  const METRICS_TOKEN = 'scrape-T0ken-0123456789';
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ METRICS_TOKEN, HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  after(() => t.close());

  test('/metrics answers only a scraper sending it as a bearer token; the probes stay open', async () => {
    const none = await request(`${t.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(none.json().error.message, 'missing "Authorization: Bearer <token>" header');
    const empty = await request(`${t.url}/metrics`, { headers: { authorization: 'Bearer ' } });
    assert.equal(
      empty.json().error.message,
      'missing "Authorization: Bearer <token>" header',
      'a scheme with no token is missing, not wrong',
    );
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="headroom-metrics"');
    assert.equal(none.json().error.code, 'HEADROOM_UNAUTHORIZED');
    assert.doesNotMatch(none.text, /headroom_/, 'no metric in the refusal');
    for (const authorization of ['Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`, `Bearer ${ADMIN_TOKEN}`]) {
      const wrong = await request(`${t.url}/metrics`, { headers: { authorization } });
      assert.equal(wrong.status, 401, authorization);
      assert.equal(wrong.json().error.message, 'wrong metrics token');
    }
    const ok = await request(`${t.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.ok(parsePrometheus(ok.text).has('headroom_memory_status'));
    assert.equal((await request(`${t.url}/health/ready`)).status, 200);
    assert.equal((await request(`${t.url}/health`)).status, 200);
  });
});

describe('gateway endpoints', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ADMIN_RATE_LIMIT: '1000' });
  });
  after(() => t.close());

  test('GET /health reports memory against the V8 heap limit, in bytes', async () => {
    const res = await request(`${t.url}/health`);
    assert.equal(res.status, 200);
    const body = res.json();
    assert.equal(body.status, 'healthy');
    for (const k of ['heapSizeLimit', 'usedHeapSize', 'heapUsedPercent', 'numberOfDetachedContexts', 'numberOfNativeContexts']) {
      assert.equal(typeof body.v8[k], 'number', `v8.${k}`);
    }
    for (const k of ['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'])
      assert.equal(typeof body.process[k], 'number', `process.${k}`);
    assert.ok(Math.abs(body.v8.heapUsedPercent - (body.v8.usedHeapSize / body.v8.heapSizeLimit) * 100) < 1);
    for (const k of ['thresholds', 'eventLoop', 'gc', 'formatted']) assert.equal(typeof body[k], 'object', k);
    assert.equal(typeof body.uptime, 'number');
    assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
  });

  test('liveness and readiness probes', async () => {
    assert.deepEqual((await request(`${t.url}/health/live`)).json(), { status: 'ok' });
    const ready = await request(`${t.url}/health/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.json().status, 'ready');
  });

  test('GET /metrics is valid Prometheus text with the headroom gauges', async () => {
    const res = await request(`${t.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const types = parsePrometheus(res.text);
    for (const name of [
      'headroom_heap_size_limit_bytes',
      'headroom_heap_used_ratio',
      'headroom_memory_status',
      'headroom_detached_contexts',
      'headroom_heap_after_gc_bytes',
      'headroom_heap_growth_bytes_per_second',
      'process_resident_memory_bytes',
      'nodejs_heap_size_total_bytes',
    ]) {
      assert.ok(types.has(name), `missing metric ${name}`);
    }
  });

  test('own JSON responses are compressed above the threshold', async () => {
    const res = await request(`${t.url}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    parsePrometheus(res.text);
    const small = await request(`${t.url}/health/live`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(small.headers['content-encoding'], undefined);
  });

  test('admin: missing token → 401 with WWW-Authenticate; wrong token → 401; right token → 200', async () => {
    const none = await request(`${t.url}/admin/memory-stats`);
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assert.equal(none.json().error.code, 'HEADROOM_UNAUTHORIZED');
    const wrong = await request(`${t.url}/admin/memory-stats`, { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    assert.equal(wrong.status, 401);
    const ok = await request(`${t.url}/admin/memory-stats`, { headers: auth });
    assert.equal(ok.status, 200);
    const body = ok.json();
    assert.ok(['healthy', 'warning', 'critical'].includes(body.status));
    for (const k of ['heapUsed', 'heapTotal', 'heapPercent', 'external', 'rss']) assert.equal(typeof body.memory[k], 'number', k);
    assert.ok('local' in body.cache && 'redis' in body.cache);
    assert.equal(typeof body.cache.redis.connected, 'boolean');
    assert.equal(typeof body.uptime, 'number');
    assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
  });

  test('POST /admin/gc runs a full collection and reports the heap before and after', async () => {
    const res = await request(`${t.url}/admin/gc`, { method: 'POST', headers: auth });
    assert.equal(res.status, 200);
    const { before, after, freed } = res.json();
    assert.ok(before > 0 && after > 0);
    assert.equal(freed, before - after);
  });

  test('a wrong method on a known path is 405 with Allow and the JSON error, not 404', async () => {
    const gc = await request(`${t.url}/admin/gc`, { headers: auth });
    assert.equal(gc.status, 405);
    assert.equal(gc.headers.allow, 'POST');
    assert.equal(gc.json().error.code, 'HEADROOM_METHOD_NOT_ALLOWED');
    assert.match(gc.json().error.message, /GET is not allowed on \/admin\/gc/);
    const health = await request(`${t.url}/health`, { method: 'POST' });
    assert.equal(health.status, 405);
    assert.deepEqual(String(health.headers.allow).split(', ').sort(), ['GET', 'HEAD']);
    assert.equal((await request(`${t.url}/admin/nope`, { headers: auth })).status, 404);
    // Without the token neither tells what exists under /admin: the token is asked first.
    assert.equal((await request(`${t.url}/admin/gc`)).status, 401);
    assert.equal((await request(`${t.url}/admin/nope`)).status, 401);
  });

  test('POST /admin/heap-snapshot writes a snapshot file', async () => {
    const res = await request(`${t.url}/admin/heap-snapshot`, { method: 'POST', headers: auth });
    assert.equal(res.status, 201, res.text);
    const { path, bytes } = res.json();
    assert.ok(existsSync(path));
    assert.ok(bytes > 1000);
  });

  test('unknown routes get the JSON error shape', async () => {
    const res = await request(`${t.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.json().error.code, 'HEADROOM_NOT_FOUND');
  });

  test('the admin token never appears in logs', () => {
    assert.ok(t.logs.length > 0);
    assert.ok(!t.logs.some((l) => l.includes(ADMIN_TOKEN)));
  });
});

test('admin API without a configured token is off (403 saying how to enable it)', async () => {
  const t = await startGateway();
  try {
    const res = await request(`${t.url}/admin/memory-stats`, { headers: auth });
    assert.equal(res.status, 403);
    assert.equal(res.json().error.code, 'HEADROOM_ADMIN_DISABLED');
    assert.match(res.json().error.message, /HEADROOM_ADMIN_TOKEN/);
  } finally {
    await t.close();
  }
});

test('admin rate limit: 429 with Retry-After, also for bad tokens', async () => {
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ADMIN_RATE_LIMIT: '3' });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(`${t.url}/admin/memory-stats`)).status, 401);
    const limited = await request(`${t.url}/admin/memory-stats`, { headers: auth });
    assert.equal(limited.status, 429);
    assert.equal(limited.json().error.code, 'HEADROOM_RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  } finally {
    await t.close();
  }
});

test('shutdown: readiness 503 during SHUTDOWN_DELAY, then the listener closes and in-flight requests drain', async () => {
  const delay = 30_000;
  const arrival = latch();
  const release = latch();
  const t = await startGateway({ SHUTDOWN_TIMEOUT: '60s', SHUTDOWN_DELAY: String(delay) }, (gw) => {
    gw.app.get('/test/hold', async () => {
      arrival.open();
      await release.opened;
      return 'done';
    });
  });
  try {
    const inflight = request(`${t.url}/test/hold`);
    await arrival.opened;
    // The delay runs on a mock clock, so the probe below cannot lose a race against it.
    mock.timers.enable({ apis: ['setTimeout'] });
    let closing: Promise<void>;
    try {
      closing = t.gw.shutdown();
      assert.equal(t.gw.isDraining(), true);
      const ready = await request(`${t.url}/health/ready`);
      assert.equal(ready.status, 503);
      assert.equal(ready.json().draining, true);
      mock.timers.tick(delay);
    } finally {
      mock.timers.reset();
    }
    await assertDrains(t.url, closing, inflight, release.open);
    assert.ok(!t.logs.some((l) => l.includes('drain timeout reached')));
  } finally {
    release.open();
    await t.close();
  }
});

test('shutdown cuts requests that outlive SHUTDOWN_TIMEOUT', async () => {
  const arrival = latch();
  const t = await startGateway({ SHUTDOWN_TIMEOUT: '200' }, (gw) => {
    gw.app.get('/test/forever', () => {
      arrival.open();
      return new Promise(() => {});
    });
  });
  try {
    const inflight = request(`${t.url}/test/forever`).then(
      () => 'answered',
      () => 'cut',
    );
    await arrival.opened;
    await t.gw.shutdown();
    assert.equal(await inflight, 'cut');
    assert.ok(
      t.logs.some((l) => l.includes('drain timeout reached')),
      'the timeout path ran',
    );
  } finally {
    await t.close();
  }
});

test('close() leaves no active handles', async () => {
  await assertNoLeakedHandles(async () => {
    const t = await startGateway();
    await request(`${t.url}/health`);
    await request(`${t.url}/metrics`);
    await t.close();
  });
});

test('TRUST_PROXY: spoofed X-Forwarded-For entries cannot dodge the admin rate limit', async () => {
  // One load balancer in front (hop count 1): it appends the real client (9.9.9.9); whatever the
  // client put before that is ignored.
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ADMIN_RATE_LIMIT: '3', TRUST_PROXY: '1' });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await request(`${t.url}/admin/memory-stats`, { headers: { 'x-forwarded-for': `10.0.0.${i}, 9.9.9.9` } });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    // A different real client has its own budget.
    assert.equal((await request(`${t.url}/admin/memory-stats`, { headers: { 'x-forwarded-for': '8.8.8.8' } })).status, 401);
  } finally {
    await t.close();
  }
  // Trusting only other addresses: X-Forwarded-For from this (untrusted) peer is ignored.
  const u = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ADMIN_RATE_LIMIT: '2', TRUST_PROXY: '10.0.0.0/8' });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await request(`${u.url}/admin/memory-stats`, { headers: { 'x-forwarded-for': `7.7.7.${i}` } })).status);
    assert.deepEqual(statuses, [401, 401, 429]);
  } finally {
    await u.close();
  }
});
