// headroom_proxy_* metrics, read at scrape time from proxy.stats(); the hot path does no metric
// work. Label sets are fixed (reason, kind, quantile, direction, result).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Proxy } from '../../proxy/proxy.js';
import { ERROR_KINDS } from '../../proxy/stats.js';

export function registerProxyMetrics(registry: Registry, proxy: Pick<Proxy, 'stats'>): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: (s: ReturnType<Proxy['stats']>) => number): void => {
    new Gauge({ name, help, registers, collect() { this.set(read(proxy.stats())); } });
  };
  const counter = (name: string, help: string, labelName: string, read: (s: ReturnType<Proxy['stats']>) => Record<string, number>): void => {
    new Counter({
      name,
      help,
      labelNames: [labelName],
      registers,
      collect() {
        this.reset();
        for (const [label, v] of Object.entries(read(proxy.stats()))) this.inc({ [labelName]: label }, v);
      },
    });
  };

  gauge('headroom_proxy_in_flight', 'Upstream requests in flight (admission slots taken).', (s) => s.inFlight);
  gauge('headroom_proxy_queued', 'Requests waiting in the admission queue.', (s) => s.queued);
  new Counter({
    name: 'headroom_proxy_gc_assists_total',
    help: 'Young-generation GCs run after relayed bytes (PROXY_GC_ASSIST).',
    registers,
    collect() {
      this.reset();
      this.inc(proxy.stats().gcAssists);
    },
  });
  gauge('headroom_proxy_breaker_open', 'Memory circuit breaker: 1 open (new requests get 503), 0 closed.', (s) => (s.breakerOpen ? 1 : 0));
  new Counter({
    name: 'headroom_proxy_requests_total',
    help: 'Requests that reached the proxy handler.',
    registers,
    collect() {
      this.reset();
      this.inc(proxy.stats().requests);
    },
  });
  counter('headroom_proxy_rejected_total', 'Requests refused by admission control, by reason (concurrency, queueTimeout, memory, draining).', 'reason', (s) => s.rejected);
  counter('headroom_proxy_shed_total', 'In-flight responses aborted under critical memory pressure.', 'part', (s) => ({ proxy: s.shed }));
  counter('headroom_proxy_errors_total', `Upstream and client faults by kind (${ERROR_KINDS.join(', ')}).`, 'kind', (s) => s.errors);
  counter('headroom_proxy_bytes_total', 'Body bytes relayed, by direction (in = request bodies to upstream, out = response bodies to clients).', 'direction', (s) => ({ in: s.bytes.in, out: s.bytes.out }));
  counter('headroom_proxy_cache_total', 'Response cache outcomes (hit, miss, not_modified, stored, abandoned, skipped_pressure, skipped_uncacheable).', 'result', (s): Record<string, number> =>
    s.cache
      ? { hit: s.cache.hits, miss: s.cache.misses, not_modified: s.cache.notModified, stored: s.cache.stored, abandoned: s.cache.abandoned, skipped_pressure: s.cache.skippedPressure, skipped_uncacheable: s.cache.skippedUncacheable }
      : {},
  );
  new Gauge({
    name: 'headroom_proxy_upstream_latency_seconds',
    help: 'Upstream time to response headers over the most recent requests, by quantile (0.5, 0.9, 0.99, 1).',
    labelNames: ['quantile'],
    registers,
    collect() {
      const l = proxy.stats().latencyMs;
      this.set({ quantile: '0.5' }, l.p50 / 1000);
      this.set({ quantile: '0.9' }, l.p90 / 1000);
      this.set({ quantile: '0.99' }, l.p99 / 1000);
      this.set({ quantile: '1' }, l.max / 1000);
    },
  });
}
