// One scrape reads each part's stats() once, whatever the number of metric families built on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createCache } from '../../src/cache/index.js';
import { createImageService } from '../../src/image/index.js';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { createProxy } from '../../src/proxy/index.js';
import { registerCacheMetrics } from '../../src/metrics/cache.js';
import { registerImageMetrics } from '../../src/metrics/image.js';
import { registerMonitorMetrics } from '../../src/metrics/monitor.js';
import { registerProxyMetrics } from '../../src/metrics/proxy.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

/** Wraps the named methods of a real part, counting calls. */
function counting<T extends object, K extends keyof T & string>(part: T, methods: K[]): { part: Pick<T, K>; calls: Record<K, number> } {
  const calls = Object.fromEntries(methods.map((k) => [k, 0])) as Record<K, number>;
  const wrapped = Object.fromEntries(
    methods.map((k) => [k, (...args: unknown[]) => (calls[k]++, (part[k] as (...a: unknown[]) => unknown).apply(part, args))]),
  ) as Pick<T, K>;
  return { part: wrapped, calls };
}

test("a scrape calls each part's stats() once; the next scrape reads them again", async () => {
  await assertNoLeakedHandles(async () => {
    const monitor = createMemoryMonitor({ autoStart: false, rssLimit: null });
    const cache = createCache({ l1: { maxBytes: 1024 * 1024 }, disk: false });
    const proxy = createProxy({ upstreamUrl: 'http://127.0.0.1:9/', monitor });
    const image = createImageService({ cache, allowedOrigins: ['http://127.0.0.1:9'], monitor });
    try {
      const m = counting(monitor, ['current', 'gc', 'trend', 'eventLoopDelay']);
      const c = counting(cache, ['stats']);
      const p = counting(proxy, ['stats']);
      const i = counting(image, ['stats']);
      const registry = new Registry();
      registerMonitorMetrics(registry, m.part);
      registerCacheMetrics(registry, c.part);
      registerProxyMetrics(registry, p.part);
      registerImageMetrics(registry, i.part);
      // Registration asks the monitor once whether it counts GC pauses (their families exist only then).
      assert.equal(m.calls.gc, 1);
      m.calls.gc = 0;

      const text = await registry.metrics();
      assert.match(text, /^headroom_image_transforms_queued 0$/m);
      assert.match(text, /^headroom_proxy_requests_total 0$/m);
      assert.deepEqual(
        { monitor: m.calls, cache: c.calls.stats, proxy: p.calls.stats, image: i.calls.stats },
        { monitor: { current: 1, gc: 1, trend: 1, eventLoopDelay: 1 }, cache: 1, proxy: 1, image: 1 },
      );
      await registry.metrics();
      assert.deepEqual([m.calls.current, c.calls.stats, p.calls.stats, i.calls.stats], [2, 2, 2, 2]);
    } finally {
      await image.close();
      await proxy.close();
      await cache.close();
      await monitor.close();
    }
  });
});
