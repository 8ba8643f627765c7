// A register*Metrics() call with a wrong argument fails where it is made, naming the function and
// the argument, not at the first scrape with a TypeError about `stats` of undefined.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import {
  exposition,
  registerCacheMetrics,
  registerDashboardMetrics,
  registerImageMetrics,
  registerLogShipMetrics,
  registerMonitorMetrics,
  registerProcessMetrics,
  registerProxyMetrics,
} from '../../src/metrics-entry.js';
import { registerAlertMetrics } from '../../src/metrics/alerts.js';
import { registerRequestAccountingMetrics } from '../../src/metrics/accounting.js';

const refused = (fn: () => unknown, message: RegExp): void =>
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
    assert.match(err.message, message);
    return true;
  });

test('a missing or wrong part is refused at registration, naming the function, the argument and what it takes', () => {
  const registry = new Registry();
  refused(
    () => registerCacheMetrics(registry, undefined as never),
    /^registerCacheMetrics\(registry, cache\): cache must be a cache from createCache\(\) \(an object with stats\(\)\); got undefined$/,
  );
  refused(
    () => registerProxyMetrics(registry, {} as never),
    /proxy must be a proxy from createProxy\(\) .*got an object without stats\(\)$/,
  );
  refused(() => registerImageMetrics(registry, null as never), /image must be an image service .*got null$/);
  refused(() => registerDashboardMetrics(registry, 5 as never), /dashboard must be .*got number$/);
  refused(() => registerLogShipMetrics(registry, undefined as never), /shipper must be a log shipper/);
  refused(() => registerAlertMetrics(registry, {} as never), /^registerAlertMetrics\(registry, alerter\): alerter must be an alerter/);
  refused(() => registerRequestAccountingMetrics(registry, undefined as never), /accounting must be a request accounting/);
  refused(
    () => registerMonitorMetrics(registry, { current: () => undefined } as never),
    /monitor must be a memory monitor .*got an object without gc\(\), trend\(\), eventLoopDelay\(\)$/,
  );
  assert.equal(registry.getMetricsAsArray().length, 0, 'nothing registered by a refused call');
});

test('a registry that is not a prom-client Registry is refused, by exposition too', async () => {
  refused(
    () => registerProcessMetrics(undefined as never),
    /^registerProcessMetrics\(registry\): registry must be a prom-client Registry .*got undefined$/,
  );
  refused(() => registerCacheMetrics({} as never, { stats: () => ({}) } as never), /registry must be a prom-client Registry/);
  await assert.rejects(exposition('x' as never), { code: 'HEADROOM_CONFIG_INVALID', message: /^exposition\(registry\): .*got string$/ });
});
