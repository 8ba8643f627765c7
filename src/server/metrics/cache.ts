// headroom_cache_* metrics, read at scrape time from cache.stats(); the hot path does no metric
// work. Labels are bounded: tier (l1, l2), result (hit, miss), reason (eviction reasons), …
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Cache, CacheStats } from '../../cache/types.js';

export function registerCacheMetrics(registry: Registry, cache: Pick<Cache, 'stats'>): void {
  const registers = [registry];
  const labelled = (
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    labelNames: string[],
    read: (s: CacheStats) => [Record<string, string>, number][],
  ): void => {
    if (kind === 'counter') {
      new Counter({ name, help, labelNames, registers, collect() {
        this.reset();
        for (const [labels, v] of read(cache.stats())) this.inc(labels, v);
      } });
    } else {
      new Gauge({ name, help, labelNames, registers, collect() {
        this.reset();
        for (const [labels, v] of read(cache.stats())) this.set(labels, v);
      } });
    }
  };
  const l2 = (s: CacheStats): NonNullable<CacheStats['l2']> | undefined => s.l2 ?? undefined;

  labelled('counter', 'headroom_cache_requests_total', 'Cache lookups by tier (l1, l2) and result (hit, miss).', ['tier', 'result'], (s) => {
    const out: [Record<string, string>, number][] = [
      [{ tier: 'l1', result: 'hit' }, s.l1.hits],
      [{ tier: 'l1', result: 'miss' }, s.l1.misses],
    ];
    const t = l2(s);
    if (t) out.push([{ tier: 'l2', result: 'hit' }, t.hits], [{ tier: 'l2', result: 'miss' }, t.misses]);
    return out;
  });
  labelled('gauge', 'headroom_cache_bytes', 'Bytes held by tier (l1: as held in the heap; l2: disk bytes, 0 for Redis).', ['tier'], (s) => {
    const t = l2(s);
    return t ? [[{ tier: 'l1' }, s.l1.bytes], [{ tier: 'l2' }, t.bytes]] : [[{ tier: 'l1' }, s.l1.bytes]];
  });
  labelled('gauge', 'headroom_cache_entries', 'Entries by tier (l2 on Redis: values under this cache\'s key prefix, counted incrementally).', ['tier'], (s) => {
    const t = l2(s);
    return t ? [[{ tier: 'l1' }, s.l1.entries], [{ tier: 'l2' }, t.entries]] : [[{ tier: 'l1' }, s.l1.entries]];
  });
  labelled('gauge', 'headroom_cache_l1_max_bytes', 'L1 byte budget: configured, and effective (shrunk under memory pressure).', ['kind'], (s) => [
    [{ kind: 'configured' }, s.l1.maxBytes],
    [{ kind: 'effective' }, s.l1.effectiveMaxBytes],
  ]);
  labelled('counter', 'headroom_cache_evictions_total', 'Evictions by tier and reason (l1: size, entries, expired, pressure; l2: capacity).', ['tier', 'reason'], (s) => {
    const out: [Record<string, string>, number][] = Object.entries(s.l1.evictions).map(([reason, v]) => [{ tier: 'l1', reason }, v]);
    const t = l2(s);
    if (t?.evictions !== undefined) out.push([{ tier: 'l2', reason: 'capacity' }, t.evictions]);
    return out;
  });
  labelled('counter', 'headroom_cache_errors_total', 'L2 failures (served from L1 instead) and corrupt L2 entries removed.', ['tier', 'kind'], (s) => {
    const t = l2(s);
    return t ? [[{ tier: 'l2', kind: 'error' }, t.errors], [{ tier: 'l2', kind: 'corrupt' }, t.corrupt ?? 0]] : [];
  });
  labelled('gauge', 'headroom_cache_l2_up', 'L2 store reachable (1) or not (0), and breaker state (1 = L2 skipped after failures).', ['kind'], (s) => {
    const t = l2(s);
    return t ? [[{ kind: 'connected' }, t.connected ? 1 : 0], [{ kind: 'breaker_open' }, t.breakerOpen ? 1 : 0]] : [];
  });
  labelled('gauge', 'headroom_cache_hit_ratio', 'Hits (any tier) over lookups since start.', [], (s) => [[{}, s.hitRatio]]);
  labelled('counter', 'headroom_cache_loader_total', 'getOrSet loader outcomes (call, error, timeout, refresh) and callers deduplicated by single-flight.', ['result'], (s) => [
    [{ result: 'call' }, s.loader?.calls ?? 0],
    [{ result: 'error' }, s.loader?.errors ?? 0],
    [{ result: 'timeout' }, s.loader?.timeouts ?? 0],
    [{ result: 'refresh' }, s.loader?.refreshes ?? 0],
    [{ result: 'deduplicated' }, s.singleFlight.deduplicated],
  ]);
  labelled('counter', 'headroom_cache_bus_messages_total', 'Invalidation bus messages (published, received, dropped as malformed).', ['direction'], (s) =>
    s.bus ? [[{ direction: 'published' }, s.bus.published], [{ direction: 'received' }, s.bus.received], [{ direction: 'dropped' }, s.bus.dropped ?? 0]] : [],
  );
}
