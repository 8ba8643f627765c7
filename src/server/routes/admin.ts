// /admin/*: rate limit, then bearer auth, then the operator endpoints. Parts add their own admin
// routes (cache-stats, proxy-stats, …) through `extra`, inside this authenticated scope.
import type { FastifyInstance } from 'fastify';
import { HeadroomError } from '../../errors.js';
import type { MemoryMonitor } from '../../monitor/types.js';
import type { Cache } from '../../cache/types.js';
import { createAdminAuth } from '../auth.js';
import { createRateLimiter } from '../rate-limit.js';
import { formatBytes } from '../../monitor/report.js';
import { minorGc } from '../../proxy/gc-assist.js';

export interface AdminRouteOptions {
  token: string | undefined;
  rateLimit: number;
  monitor: MemoryMonitor;
  cache?: Cache;
  extra: ((app: FastifyInstance) => Promise<void> | void)[];
}

export async function adminRoutes(app: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  const limiter = createRateLimiter({ limit: options.rateLimit, windowMs: 60_000 });
  const authenticate = createAdminAuth(options.token);
  const { monitor, cache } = options;

  // Rate limiting comes first so that guessing tokens is throttled too.
  app.addHook('onRequest', async (request) => {
    const wait = limiter.hit(request.ip);
    if (wait > 0) {
      throw new HeadroomError('HEADROOM_RATE_LIMITED', `too many admin requests; retry in ${wait} s`, {
        headers: { 'retry-after': String(wait) },
      });
    }
    await authenticate(request);
  });

  app.get('/memory-stats', async () => {
    const s = monitor.current();
    const cacheStats = cache?.stats();
    return {
      status: s.status,
      memory: {
        heapUsed: s.v8.usedHeapSize,
        heapTotal: s.v8.totalHeapSize,
        heapLimit: s.v8.heapSizeLimit,
        heapPercent: s.v8.heapUsedPercent,
        external: s.process.external,
        arrayBuffers: s.process.arrayBuffers,
        rss: s.process.rss,
        rssLimit: s.rssLimit,
        formatted: {
          heapUsed: formatBytes(s.v8.usedHeapSize),
          heapTotal: formatBytes(s.v8.totalHeapSize),
          heapLimit: formatBytes(s.v8.heapSizeLimit),
          heapPercent: `${s.v8.heapUsedPercent.toFixed(2)}%`,
          external: formatBytes(s.process.external),
          rss: formatBytes(s.process.rss),
        },
      },
      cache: {
        local: cacheStats
          ? {
              totalEntries: cacheStats.l1.entries,
              bytes: cacheStats.l1.bytes,
              maxBytes: cacheStats.l1.effectiveMaxBytes,
              hits: cacheStats.l1.hits,
              misses: cacheStats.l1.misses,
              entries: cache!.topKeys(10),
            }
          : null,
        redis:
          cacheStats?.l2?.kind === 'redis'
            ? { connected: cacheStats.l2.connected, keyCount: cacheStats.l2.keyCount }
            : { connected: false, keyCount: null },
      },
      uptime: process.uptime(),
      timestamp: new Date(s.timestamp).toISOString(),
    };
  });

  app.post('/heap-snapshot', async (_request, reply) => {
    const result = await monitor.writeHeapSnapshot();
    return reply.code(201).send(result);
  });

  app.post('/gc', async () => {
    // The GC assist's handle on V8's gc(), which needs no --expose-gc.
    const gc = minorGc();
    // Only a runtime that refuses V8 flags at run time gets here; nothing in Node 20–24 does.
    if (!gc) throw new HeadroomError('HEADROOM_INTERNAL', 'this runtime does not let the process start a garbage collection');
    const before = monitor.sampleNow().v8.usedHeapSize;
    const started = performance.now();
    gc({ type: 'major', execution: 'sync' });
    const after = monitor.sampleNow().v8.usedHeapSize;
    return { before, after, freed: before - after, durationMs: performance.now() - started };
  });

  for (const register of options.extra) await register(app);
}
