// headroom_proxy_* metrics, read at scrape time from proxy.stats() (once per scrape); the hot
// path does no metric work. Label sets are fixed (reason, kind, direction, result, le).
import type { Registry } from 'prom-client';
import type { Proxy } from '../proxy/proxy.js';
import { ERROR_KINDS } from '../proxy/stats.js';
import { byLabel, checkMetricsArgs, partMetrics } from './define.js';

export function registerProxyMetrics(registry: Registry, proxy: Pick<Proxy, 'stats'>): void {
  checkMetricsArgs('registerProxyMetrics(registry, proxy)', registry, {
    name: 'proxy',
    value: proxy,
    methods: ['stats'],
    from: 'a proxy from createProxy()',
  });
  const m = partMetrics(registry, () => proxy.stats());

  m.gauge('headroom_proxy_in_flight', 'Upstream requests in flight (admission slots taken).', (s) => s.inFlight);
  m.gauge('headroom_proxy_queued', 'Requests waiting in the admission queue.', (s) => s.queued);
  m.counter('headroom_proxy_gc_assists_total', 'Young-generation GCs run after relayed bytes (PROXY_GC_ASSIST).', (s) => s.gcAssists);
  m.gauge('headroom_proxy_breaker_open', 'Memory circuit breaker: 1 open (new requests get 503), 0 closed.', (s) =>
    s.breakerOpen ? 1 : 0,
  );
  m.counter('headroom_proxy_requests_total', 'Requests that reached the proxy handler.', (s) => s.requests);
  m.labelled(
    'counter',
    'headroom_proxy_rejected_total',
    'Requests refused by admission control, by reason (concurrency, queueTimeout, memory, draining, client).',
    ['reason'],
    (s) => byLabel('reason', s.rejected),
  );
  m.labelled('counter', 'headroom_proxy_shed_total', 'In-flight responses aborted under critical memory pressure.', ['part'], (s) => [
    [{ part: 'proxy' }, s.shed],
  ]);
  m.labelled('counter', 'headroom_proxy_errors_total', `Upstream and client faults by kind (${ERROR_KINDS.join(', ')}).`, ['kind'], (s) =>
    byLabel('kind', s.errors),
  );
  m.labelled(
    'counter',
    'headroom_proxy_bytes_total',
    'Body bytes relayed, by direction (in = request bodies to upstream, out = response bodies to clients).',
    ['direction'],
    (s) => byLabel('direction', s.bytes),
  );
  m.labelled(
    'counter',
    'headroom_proxy_cache_total',
    'Response cache outcomes (hit, miss, not_modified, stored, abandoned, skipped_pressure, skipped_uncacheable).',
    ['result'],
    (s) =>
      s.cache
        ? byLabel('result', {
            hit: s.cache.hits,
            miss: s.cache.misses,
            not_modified: s.cache.notModified,
            stored: s.cache.stored,
            abandoned: s.cache.abandoned,
            skipped_pressure: s.cache.skippedPressure,
            skipped_uncacheable: s.cache.skippedUncacheable,
          })
        : [],
  );
  m.histogram('headroom_proxy_upstream_latency_seconds', 'Upstream time to response headers, seconds.', (s) => {
    const h = s.latencyHistogram;
    return { bounds: h.boundsSeconds, cumulative: h.cumulative, sum: h.sumSeconds, count: h.count };
  });
}
