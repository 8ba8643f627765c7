import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { redisOrSkip, startRedis } from '../helpers/redis.js';
import { parsePrometheus } from './prometheus.js';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

test('gateway cache wiring: stats, invalidate by tag, clear, memory-stats and metrics', async () => {
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    const cache = t.gw.cache;
    await cache.set('a', { v: 1 }, { tags: ['users'] });
    await cache.set('b', Buffer.from('bytes'), { tags: ['files'] });
    assert.deepEqual(await cache.get('a'), { v: 1 });

    const stats = (await request(`${t.url}/admin/cache-stats`, { headers: auth })).json();
    assert.equal(stats.l1.entries, 2);
    assert.equal(stats.l2.kind, 'disk');

    const mem = (await request(`${t.url}/admin/memory-stats`, { headers: auth })).json();
    assert.equal(mem.cache.local.totalEntries, 2);
    assert.equal(mem.cache.redis.connected, false);

    const bad = await request(`${t.url}/admin/cache/invalidate`, { method: 'POST', headers: auth });
    assert.equal(bad.status, 400);
    assert.match(bad.json().error.message, /tag/);
    const inv = await request(`${t.url}/admin/cache/invalidate?tag=users`, { method: 'POST', headers: auth });
    assert.equal(inv.status, 200);
    assert.equal(await cache.get('a'), undefined);
    assert.deepEqual(await cache.get('b'), Buffer.from('bytes'));

    assert.equal((await request(`${t.url}/admin/cache/clear`, { method: 'POST', headers: auth })).status, 200);
    assert.equal(await cache.get('b'), undefined);

    const types = parsePrometheus((await request(`${t.url}/metrics`)).text);
    assert.ok(
      [...types.keys()].some((k) => k.startsWith('headroom_cache_')),
      'headroom_cache_* metrics',
    );
    // Cache admin routes are behind the same auth as the rest of /admin.
    assert.equal((await request(`${t.url}/admin/cache-stats`)).status, 401);
  } finally {
    await t.close();
  }
});

test('gateway with REDIS_URL reports Redis in memory-stats', async (ctx) => {
  if (!redisOrSkip('gateway redis wiring')) return ctx.skip('redis-server not installed');
  const redis = await startRedis();
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, REDIS_URL: redis.url });
  try {
    await t.gw.cache.set('k', 'v');
    const mem = await waitFor(async () => {
      const m = (await request(`${t.url}/admin/memory-stats`, { headers: auth })).json();
      return m.cache.redis.connected && m.cache.redis.keyCount !== null ? m : undefined;
    }, 'memory-stats to show Redis connected with a key count');
    assert.equal(mem.cache.redis.connected, true);
    assert.equal(typeof mem.cache.redis.keyCount, 'number');
  } finally {
    await t.close();
    await redis.stop();
  }
});

test('CACHE_MAX_BYTES unset: the L1 is sized from the memory limit and the start-up log says so', async () => {
  const MiB = 1024 ** 2;
  // 480 MiB: a limit this test process stays well under; an eighth of it is 60 MiB (< 64 MiB).
  const sized = await startGateway({ MEMORY_RSS_LIMIT: '480MiB' });
  try {
    assert.equal(sized.gw.cache.stats().l1.maxBytes, 60 * MiB);
    const line = sized.logs.find((l) => l.includes('CACHE_MAX_BYTES not set'));
    assert.ok(line, 'one info line at start');
    assert.match(JSON.parse(line).msg, /holds up to 60 MiB, sized from the 480 MiB memory limit \(set CACHE_MAX_BYTES to choose\)/);
  } finally {
    await sized.close();
  }
  const given = await startGateway({ MEMORY_RSS_LIMIT: '480MiB', CACHE_MAX_BYTES: '100MiB' });
  try {
    assert.equal(given.gw.cache.stats().l1.maxBytes, 100 * MiB);
    assert.ok(!given.logs.some((l) => l.includes('CACHE_MAX_BYTES not set')));
  } finally {
    await given.close();
  }
});
