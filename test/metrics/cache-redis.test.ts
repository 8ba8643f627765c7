// headroom_cache_redis_* against a real redis-server that stops answering (CLIENT PAUSE): calls over
// the cap are counted refused, calls past the command timeout timed_out, and the pending gauges
// follow the calls in flight.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCache } from '../../src/cache/index.js';
import { registerCacheMetrics } from '../../src/metrics/cache.js';
import { redisOrSkip, startRedis, type RedisServer } from '../helpers/redis.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const enabled = redisOrSkip('cache redis gate metrics');
const COMMAND_TIMEOUT = 200;
const PAUSE = 1500;

const sample = (text: string, series: string): number => {
  const m = new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${series} in\n${text}`);
  return Number(m[1]);
};

describe('redis gate metrics', { skip: !enabled }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test('refused and timed-out calls are counted, pending and its peak follow the calls in flight', async () => {
    await assertNoLeakedHandles(async () => {
      const cache = createCache({ redis: { url: redis.url, keyPrefix: 'gate-metrics:', commandTimeout: COMMAND_TIMEOUT, maxPending: 2 } });
      const raw = new Redis(redis.url);
      const registry = new Registry();
      registerCacheMetrics(registry, cache);
      try {
        await waitFor(() => cache.stats().l2?.connected === true, 'the cache on Redis');
        let text = await registry.metrics();
        assert.equal(sample(text, 'headroom_cache_redis_max_pending'), 2);
        assert.equal(sample(text, 'headroom_cache_redis_calls_failed_total{result="refused"}'), 0);
        assert.equal(sample(text, 'headroom_cache_redis_calls_failed_total{result="timed_out"}'), 0);

        // Redis holds every command of a normal client for PAUSE ms: the first two calls fill the
        // cap and wait their deadline, the third finds the cap full.
        assert.equal(await raw.client('PAUSE', PAUSE, 'ALL'), 'OK');
        const started = performance.now();
        const gets = ['a', 'b', 'c'].map((k) => cache.get(k));
        await waitFor(() => cache.stats().l2?.redis?.pending === 2, 'two calls in flight');
        text = await registry.metrics();
        assert.equal(sample(text, 'headroom_cache_redis_pending'), 2);
        assert.equal(sample(text, 'headroom_cache_redis_pending_peak'), 2);
        // Every get is answered (a miss) by the deadline, long before Redis answers.
        assert.deepEqual(await Promise.all(gets), [undefined, undefined, undefined]);
        const waited = performance.now() - started;
        assert.ok(waited < PAUSE - 300, `the gets were answered after ${waited.toFixed(0)} ms, Redis paused ${PAUSE} ms`);
        text = await registry.metrics();
        assert.equal(sample(text, 'headroom_cache_redis_calls_failed_total{result="refused"}'), 1);
        assert.equal(sample(text, 'headroom_cache_redis_calls_failed_total{result="timed_out"}'), 2);
        // About the command timeout (timers fire to the millisecond), far below the pause.
        const waitPeak = sample(text, 'headroom_cache_redis_wait_peak_seconds');
        assert.ok(waitPeak >= (COMMAND_TIMEOUT - 5) / 1000 && waitPeak < PAUSE / 1000, `wait peak ${waitPeak} s`);
        // The two answered calls keep their places under the cap until Redis really answers their
        // commands, at the end of the pause; then calls go through again.
        await waitFor(() => cache.stats().l2?.redis?.pending === 0, 'Redis to answer after the pause', PAUSE + 5000);
        const freed = performance.now() - started;
        assert.ok(freed >= PAUSE - 50, `the held calls left the cap after ${freed.toFixed(0)} ms, Redis paused ${PAUSE} ms`);
        text = await registry.metrics();
        assert.equal(sample(text, 'headroom_cache_redis_pending'), 0);
        assert.equal(sample(text, 'headroom_cache_redis_pending_peak'), 2);
      } finally {
        raw.disconnect();
        await cache.close();
      }
    });
  });
});
