// The proxy's upstream latency histogram: fixed buckets counted on the hot path, exported as a
// Prometheus histogram (le inclusive, cumulative, +Inf = count).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, ProxyCounters } from '../../src/proxy/stats.js';
import { registerProxyMetrics } from '../../src/metrics/proxy.js';
import type { Proxy } from '../../src/proxy/proxy.js';

test('latencies land in cumulative buckets whose upper bound is inclusive', () => {
  const c = new ProxyCounters(4);
  for (const ms of [5, 5.0001, 7, 999, 40_000]) c.latency(ms);
  const h = c.histogram();
  assert.deepEqual(h.boundsSeconds, LATENCY_BUCKETS_SECONDS);
  const at = (le: number): number => h.cumulative[LATENCY_BUCKETS_SECONDS.indexOf(le)]!;
  assert.deepEqual([at(0.005), at(0.01), at(1), at(30)], [1, 3, 4, 4]);
  assert.equal(h.count, 5); // 40 s is only in +Inf
  assert.ok(Math.abs(h.sumSeconds - 41.0160001) < 1e-9, String(h.sumSeconds));
  // The ring (admin percentiles) is bounded as before; the histogram counts every request.
  assert.equal(c.percentiles().samples, 4);
});

test('exported as a histogram family: _bucket{le}, _sum, _count', async () => {
  const c = new ProxyCounters();
  c.latency(20);
  c.latency(300);
  const stats = { latencyHistogram: c.histogram() } as ReturnType<Proxy['stats']>;
  const registry = new Registry();
  registerProxyMetrics(registry, { stats: () => ({ ...stats, rejected: {}, errors: {}, bytes: { in: 0, out: 0 }, cache: null }) as never });
  const text = await registry.metrics();
  assert.match(text, /^# TYPE headroom_proxy_upstream_latency_seconds histogram$/m);
  assert.match(text, /^headroom_proxy_upstream_latency_seconds_bucket\{le="0.01"\} 0$/m);
  assert.match(text, /^headroom_proxy_upstream_latency_seconds_bucket\{le="0.025"\} 1$/m);
  assert.match(text, /^headroom_proxy_upstream_latency_seconds_bucket\{le="0.5"\} 2$/m);
  assert.match(text, /^headroom_proxy_upstream_latency_seconds_bucket\{le="\+Inf"\} 2$/m);
  assert.match(text, /^headroom_proxy_upstream_latency_seconds_sum 0.32$/m);
  assert.match(text, /^headroom_proxy_upstream_latency_seconds_count 2$/m);
  assert.doesNotMatch(text, /quantile=/);
});
