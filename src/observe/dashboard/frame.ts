// One frame of the live feed from the parts' own stats: what the page draws each second.
import type { Cache } from '../../cache/types.js';
import type { ImageService } from '../../image/types.js';
import type { GcStats, LeakTrend, MemoryMonitor } from '../../monitor/types.js';
import type { Proxy } from '../../proxy/proxy.js';
import type { DashboardFrame } from './types.js';

export interface FrameSources {
  monitor: MemoryMonitor;
  cache?: Cache;
  proxy?: Proxy;
  image?: ImageService;
}

/** Seconds until the heap limit at the post-GC trend; null when the heap is not growing or the trend is not known yet. */
export function secondsToLimit(heapAfterGc: number | null, limit: number, trend: LeakTrend): number | null {
  if (heapAfterGc === null || trend.bytesPerHour === null || trend.bytesPerHour <= 0) return null;
  return Math.max(0, ((limit - heapAfterGc) / trend.bytesPerHour) * 3600);
}

function gcTotals(gc: GcStats): DashboardFrame['gc'] {
  if (gc.byKind === null) return null;
  let count = 0;
  let pauseMs = 0;
  let maxPauseMs = 0;
  for (const k in gc.byKind) {
    const s = gc.byKind[k]!;
    count += s.count;
    pauseMs += s.totalMs;
    maxPauseMs = Math.max(maxPauseMs, s.maxMs);
  }
  return { count, pauseMs, maxPauseMs };
}

function cacheFrame(cache: Cache | undefined): DashboardFrame['cache'] {
  if (!cache) return null;
  const s = cache.stats();
  const hits = s.l1.hits + (s.l2?.hits ?? 0);
  const l2 = s.l2 && {
    kind: s.l2.kind,
    state: s.l2.breakerOpen ? ('breaker-open' as const) : s.l2.connected ? ('up' as const) : ('down' as const),
  };
  return { bytes: s.l1.bytes, maxBytes: s.l1.effectiveMaxBytes, hits, misses: s.l1.hits + s.l1.misses - hits, hitRatio: s.hitRatio, l2 };
}

export function buildFrame({ monitor, cache, proxy, image }: FrameSources): DashboardFrame {
  const s = monitor.current();
  const gc = monitor.gc();
  const trend = monitor.trend();
  const { warningPercent, criticalPercent } = monitor.thresholds();
  const p = proxy?.stats();
  const q = image?.stats().queue;
  return {
    t: s.timestamp,
    status: s.status,
    heap: { used: s.v8.usedHeapSize, total: s.v8.totalHeapSize, limit: s.v8.heapSizeLimit, percent: s.v8.heapUsedPercent },
    rss: { bytes: s.process.rss, limit: s.rssLimit, percent: s.rssPercent },
    thresholds: { warningPercent, criticalPercent },
    postGc: {
      heap: gc.lastHeapAfterGc,
      bytesPerHour: trend.bytesPerHour,
      secondsToLimit: secondsToLimit(gc.lastHeapAfterGc, s.v8.heapSizeLimit, trend),
    },
    eventLoop: { delayP99: s.eventLoop.delayP99, utilizationPercent: s.eventLoop.utilizationPercent },
    gc: gcTotals(gc),
    cache: cacheFrame(cache),
    proxy: p
      ? {
          inFlight: p.inFlight,
          queued: p.queued,
          shed: p.shed,
          requests: p.requests,
          latencyP50: p.latencyMs.p50,
          latencyP99: p.latencyMs.p99,
        }
      : null,
    image: q ? { active: q.active, queued: q.queued, queueSize: q.queueSize } : null,
  };
}
