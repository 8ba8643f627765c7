// The cache admin plugin on a real Fastify server (as the gateway mounts it under /admin), and the
// headroom_cache_* metrics read from a real cache.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { createCache, type Cache } from '../../src/cache/index.js';
import { installErrorHandlers } from '../../src/server/error-handler.js';
import { cacheAdminRoutes } from '../../src/server/routes/cache.js';
import { registerCacheMetrics } from '../../src/metrics/cache.js';

describe('cache admin routes', () => {
  let app: FastifyInstance;
  let cache: Cache;
  let base: string;
  before(async () => {
    cache = createCache({ disk: false });
    app = Fastify();
    installErrorHandlers(app);
    await app.register(async (admin) => admin.register(cacheAdminRoutes, { cache }), { prefix: '/admin' });
    base = `${await app.listen({ port: 0, host: '127.0.0.1' })}/admin`;
  });
  after(async () => {
    await app.close();
    await cache.close();
  });

  test('GET /cache-stats returns per-tier stats and top keys', async () => {
    await cache.set('a', 1);
    await cache.get('a');
    const res = await fetch(`${base}/cache-stats`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      l1: { hits: number; entries: number; evictions: object };
      l2: null;
      hitRatio: number;
      topKeys: unknown[];
    };
    assert.equal(body.l1.entries, 1);
    assert.ok(body.l1.hits >= 1);
    assert.ok('pressure' in body.l1.evictions);
    assert.equal(body.l2, null);
    assert.deepEqual(body.topKeys, [{ key: 'a', count: 1 }]);
  });

  test('POST /cache/invalidate?tag= drops tagged entries; a missing or bad tag is a clear 400', async () => {
    await cache.set('t1', 1, { tags: ['users'] });
    await cache.set('t2', 2, { tags: ['posts'] });
    const ok = await fetch(`${base}/cache/invalidate?tag=users`, { method: 'POST' });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { invalidated: { tag: 'users' } });
    assert.equal(await cache.get('t1'), undefined);
    assert.equal(await cache.get('t2'), 2);
    for (const q of ['', '?tag=', '?tag=a&tag=b', `?tag=${'x'.repeat(300)}`, '?tag=%00']) {
      const bad = await fetch(`${base}/cache/invalidate${q}`, { method: 'POST' });
      assert.equal(bad.status, 400, q);
      const body = (await bad.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'HEADROOM_BAD_REQUEST');
      assert.match(body.error.message, /"tag"/);
    }
  });

  test('POST /cache/clear empties the cache', async () => {
    await cache.set('x', 1);
    const res = await fetch(`${base}/cache/clear`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(cache.stats().l1.entries, 0);
  });
});

describe('cache metrics', () => {
  test('headroom_cache_* carry tier and result labels and follow stats()', async () => {
    const cache = createCache({ disk: false });
    const registry = new Registry();
    registerCacheMetrics(registry, cache);
    await cache.set('k', 'v');
    await cache.get('k');
    await cache.get('k');
    await cache.get('nope');
    const text = await registry.metrics();
    assert.match(text, /headroom_cache_requests_total\{tier="l1",result="hit"\} 2/);
    assert.match(text, /headroom_cache_requests_total\{tier="l1",result="miss"\} 1/);
    assert.match(text, /headroom_cache_entries\{tier="l1"\} 1/);
    assert.match(text, /headroom_cache_evictions_total\{tier="l1",reason="pressure"\} 0/);
    assert.match(text, /headroom_cache_l1_max_bytes\{kind="effective"\} \d+/);
    assert.match(text, /headroom_cache_hit_ratio 0\.66/);
    // Without an L2 its two gauges are absent, not 0 (0 would fire HeadroomL2Down).
    assert.doesNotMatch(text, /^headroom_cache_l2_(up|breaker_open)\b/m);
    await cache.close();
    // With one, both are there.
    const dir = mkdtempSync(join(tmpdir(), 'hr-metrics-'));
    const withDisk = createCache({ disk: { dir } });
    const withRegistry = new Registry();
    registerCacheMetrics(withRegistry, withDisk);
    await withDisk.set('k', 'v');
    const withText = await withRegistry.metrics();
    assert.match(withText, /^headroom_cache_l2_up 1$/m);
    assert.match(withText, /^headroom_cache_l2_breaker_open 0$/m);
    await withDisk.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
