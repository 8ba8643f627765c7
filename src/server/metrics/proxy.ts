// headroom_proxy_* metrics, read at scrape time from proxy.stats() (once per scrape); the hot
// path does no metric work. Label sets are fixed (reason, kind, quantile, direction, result).
import { Gauge, type Registry } from 'prom-client';
import type { Proxy } from '../../proxy/proxy.js';
import { ERROR_KINDS } from '../../proxy/stats.js';
import { byLabel, oncePerScrape, partMetrics } from './define.js';

export function registerProxyMetrics(registry: Registry, proxy: Pick<Proxy, 'stats'>): void {
  const read = oncePerScrape(() => proxy.stats());
  const m = partMetrics(registry, read);

  m.gauge('headroom_proxy_in_flight', 'Upstream requests in flight (admission slots taken).', (s) => s.inFlight);
  m.gauge('headroom_proxy_queued', 'Requests waiting in the admission queue.', (s) => s.queued);
  m.counter('headroom_proxy_gc_assists_total', 'Young-generation GCs run after relayed bytes (PROXY_GC_ASSIST).', (s) => s.gcAssists);
  m.gauge('headroom_proxy_breaker_open', 'Memory circuit breaker: 1 open (new requests get 503), 0 closed.', (s) => (s.breakerOpen ? 1 : 0));
  m.counter('headroom_proxy_requests_total', 'Requests that reached the proxy handler.', (s) => s.requests);
  m.labelled('counter', 'headroom_proxy_rejected_total', 'Requests refused by admission control, by reason (concurrency, queueTimeout, memory, draining).', ['reason'], (s) => byLabel('reason', s.rejected));
  m.labelled('counter', 'headroom_proxy_shed_total', 'In-flight responses aborted under critical memory pressure.', ['part'], (s) => [[{ part: 'proxy' }, s.shed]]);
  m.labelled('counter', 'headroom_proxy_errors_total', `Upstream and client faults by kind (${ERROR_KINDS.join(', ')}).`, ['kind'], (s) => byLabel('kind', s.errors));
  m.labelled('counter', 'headroom_proxy_bytes_total', 'Body bytes relayed, by direction (in = request bodies to upstream, out = response bodies to clients).', ['direction'], (s) => byLabel('direction', s.bytes));
  m.labelled('counter', 'headroom_proxy_cache_total', 'Response cache outcomes (hit, miss, not_modified, stored, abandoned, skipped_pressure, skipped_uncacheable).', ['result'], (s) =>
    s.cache
      ? byLabel('result', { hit: s.cache.hits, miss: s.cache.misses, not_modified: s.cache.notModified, stored: s.cache.stored, abandoned: s.cache.abandoned, skipped_pressure: s.cache.skippedPressure, skipped_uncacheable: s.cache.skippedUncacheable })
      : [],
  );
  new Gauge({
    name: 'headroom_proxy_upstream_latency_seconds',
    help: 'Upstream time to response headers over the most recent requests, by quantile (0.5, 0.9, 0.99, 1).',
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      const l = read().latencyMs;
      this.set({ quantile: '0.5' }, l.p50 / 1000);
      this.set({ quantile: '0.9' }, l.p90 / 1000);
      this.set({ quantile: '0.99' }, l.p99 / 1000);
      this.set({ quantile: '1' }, l.max / 1000);
    },
  });
}
