// headroom_cache_* metrics, read at scrape time from cache.stats() (once per scrape); the hot path
// does no metric work. Labels are bounded: tier (l1, l2), result (hit, miss), reason (eviction reasons), …
import type { Registry } from 'prom-client';
import type { Cache, CacheStats } from '../cache/types.js';
import { registerCacheRedisMetrics } from './cache-redis.js';
import { byLabel, checkMetricsArgs, partMetrics, type Samples } from './define.js';

export function registerCacheMetrics(registry: Registry, cache: Pick<Cache, 'stats'>): void {
  checkMetricsArgs('registerCacheMetrics(registry, cache)', registry, {
    name: 'cache',
    value: cache,
    methods: ['stats'],
    from: 'a cache from createCache()',
  });
  const m = partMetrics(registry, () => cache.stats());
  const l2 = (s: CacheStats): NonNullable<CacheStats['l2']> | undefined => s.l2 ?? undefined;

  m.labelled(
    'counter',
    'headroom_cache_requests_total',
    'Cache lookups by tier (l1, l2) and result (hit, miss).',
    ['tier', 'result'],
    (s) => {
      const t = l2(s);
      const out: Samples = [
        [{ tier: 'l1', result: 'hit' }, s.l1.hits],
        [{ tier: 'l1', result: 'miss' }, s.l1.misses],
      ];
      return t ? [...out, [{ tier: 'l2', result: 'hit' }, t.hits], [{ tier: 'l2', result: 'miss' }, t.misses]] : out;
    },
  );
  m.labelled(
    'gauge',
    'headroom_cache_bytes',
    'Bytes held by tier (l1: as held in the heap; l2: disk bytes, 0 for Redis).',
    ['tier'],
    (s) => {
      const t = l2(s);
      return t
        ? [
            [{ tier: 'l1' }, s.l1.bytes],
            [{ tier: 'l2' }, t.bytes],
          ]
        : [[{ tier: 'l1' }, s.l1.bytes]];
    },
  );
  m.labelled(
    'gauge',
    'headroom_cache_entries',
    "Entries by tier (l2 on Redis: values under this cache's key prefix, as the last full SCAN pass, spread over the cleanup sweeps, counted them; 0 until one has ended).",
    ['tier'],
    (s) => {
      const t = l2(s);
      return t
        ? [
            [{ tier: 'l1' }, s.l1.entries],
            [{ tier: 'l2' }, t.entries],
          ]
        : [[{ tier: 'l1' }, s.l1.entries]];
    },
  );
  m.labelled(
    'gauge',
    'headroom_cache_l1_max_bytes',
    'L1 byte budget: configured, and effective (shrunk under memory pressure).',
    ['kind'],
    (s) => [
      [{ kind: 'configured' }, s.l1.maxBytes],
      [{ kind: 'effective' }, s.l1.effectiveMaxBytes],
    ],
  );
  m.labelled(
    'counter',
    'headroom_cache_evictions_total',
    'Evictions by tier and reason (l1: size, entries, expired, pressure, too_large: never kept, over maxEntryBytes; l2: capacity).',
    ['tier', 'reason'],
    (s) => {
      const out: Samples = Object.entries(s.l1.evictions).map(([reason, v]) => [{ tier: 'l1', reason }, v] as const);
      const t = l2(s);
      return t?.evictions !== undefined ? [...out, [{ tier: 'l2', reason: 'capacity' }, t.evictions]] : out;
    },
  );
  m.labelled(
    'counter',
    'headroom_cache_errors_total',
    'L2 failures (served from L1 instead) and corrupt L2 entries removed.',
    ['tier', 'kind'],
    (s) => {
      const t = l2(s);
      return t
        ? [
            [{ tier: 'l2', kind: 'error' }, t.errors],
            [{ tier: 'l2', kind: 'corrupt' }, t.corrupt ?? 0],
          ]
        : [];
    },
  );
  // Two gauges, not one with a kind label: summing "up" and "breaker open" would mean nothing.
  m.labelled('gauge', 'headroom_cache_l2_up', 'L2 store reachable (1) or not (0); absent without an L2.', [], (s) => {
    const t = l2(s);
    return t ? [[{}, t.connected ? 1 : 0]] : [];
  });
  m.labelled(
    'gauge',
    'headroom_cache_l2_breaker_open',
    'L2 breaker: 1 open (L2 skipped after failures, L1 only), 0 closed; absent without an L2.',
    [],
    (s) => {
      const t = l2(s);
      return t ? [[{}, t.breakerOpen ? 1 : 0]] : [];
    },
  );
  m.gauge('headroom_cache_hit_ratio', 'Hits (any tier) over lookups since start, 0..1.', (s) => s.hitRatio);
  m.labelled(
    'counter',
    'headroom_cache_loader_total',
    'getOrSet loader outcomes: call (loader runs), error (loaders that threw), timeout (callers that gave up waiting, each under its own timeout), refresh (background refreshes under grace); and callers deduplicated by single-flight.',
    ['result'],
    (s) => [
      [{ result: 'call' }, s.loader?.calls ?? 0],
      [{ result: 'error' }, s.loader?.errors ?? 0],
      [{ result: 'timeout' }, s.loader?.timeouts ?? 0],
      [{ result: 'refresh' }, s.loader?.refreshes ?? 0],
      [{ result: 'deduplicated' }, s.singleFlight.deduplicated],
    ],
  );
  m.labelled(
    'counter',
    'headroom_cache_bus_messages_total',
    'Invalidation bus messages: sent, send_error (not handed to Redis), received, dropped (found missing by sequence gaps), malformed (ignored).',
    ['direction'],
    (s) =>
      s.bus
        ? byLabel('direction', {
            sent: s.bus.sent,
            send_error: s.bus.sendErrors,
            received: s.bus.received,
            dropped: s.bus.dropped,
            malformed: s.bus.malformed,
          })
        : [],
  );
  m.labelled(
    'counter',
    'headroom_cache_bus_resyncs_total',
    'Times L1 was revalidated because bus messages were lost: reason gap (sequence gap) or reconnect (subscriber reconnected).',
    ['reason'],
    (s) => (s.bus ? byLabel('reason', { gap: s.bus.gaps, reconnect: s.bus.reconnects }) : []),
  );
  m.histogram('headroom_cache_bus_lag_seconds', 'Time from publishing a bus message to its arrival here, seconds.', (s) => {
    const h = s.bus?.lag.histogram;
    return h
      ? { bounds: h.boundsSeconds, cumulative: h.cumulative, sum: h.sum, count: h.count }
      : { bounds: [], cumulative: [], sum: 0, count: 0 };
  });
  m.labelled(
    'counter',
    'headroom_cache_generation_checks_total',
    'Reads of tag and clear generations from Redis (result ok: one MGET; changed: generations found changed; error: a failed read, L1 kept serving).',
    ['result'],
    (s) => {
      const g = s.coherence?.generations;
      return g ? byLabel('result', { ok: g.checks - g.errors, changed: g.changes, error: g.errors }) : [];
    },
  );
  m.labelled(
    'counter',
    'headroom_cache_l1_revalidations_total',
    'L1 copies read again from Redis before being served (older than CACHE_L1_MAX_STALE, or a bus gap or reconnect since), and those served anyway because Redis failed.',
    ['result'],
    (s) =>
      s.coherence
        ? byLabel('result', {
            read_again: s.coherence.revalidations,
            served_on_failure: s.coherence.servedOnL2Failure,
          })
        : [],
  );
  registerCacheRedisMetrics(m);
}
