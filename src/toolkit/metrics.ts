// The Prometheus registry of an adapter: Node.js process metrics (metrics/process.ts) plus
// headroom_* of every part that exists, scraped as one plain response.
import type { MetricObject, Registry } from 'prom-client';
// By path, not through prom-client's index (metrics/prom-client-modules.d.ts); the types come from
// the index, so no such path reaches the published .d.ts files.
import PromRegistry from 'prom-client/lib/registry.js';
import type { Cache } from '../cache/types.js';
import { HeadroomError } from '../errors.js';
import type { ImageService } from '../image/types.js';
import type { MemoryMonitor } from '../monitor/types.js';
import type { Proxy } from '../proxy/proxy.js';
import { registerCacheMetrics } from '../metrics/cache.js';
import { partMetrics } from '../metrics/define.js';
import { exposition } from '../metrics/exposition.js';
import { registerImageMetrics } from '../metrics/image.js';
import { registerDashboardMetrics } from '../metrics/dashboard.js';
import type { LiveFeedStats } from '../observe/dashboard/index.js';
import { registerMonitorMetrics } from '../metrics/monitor.js';
import { registerProcessMetrics } from '../metrics/process.js';
import { registerProxyMetrics } from '../metrics/proxy.js';
import type { PlainResponse } from './response.js';

export interface AppRequestStats {
  inFlight: number;
  /** Requests answered 503 by shedding since start. */
  shed: number;
}

export interface MetricsParts {
  monitor: MemoryMonitor;
  cache?: Cache;
  proxy?: Proxy;
  image?: ImageService;
  dashboard?: { stats(): LiveFeedStats };
  requests: () => AppRequestStats;
}

/**
 * Registers into `registry` (a new one when not given). Default process metrics are added only to
 * a registry that has none yet, so an app that already collects them into its own keeps working.
 */
export function createMetricsRegistry(parts: MetricsParts, registry: Registry = new PromRegistry(), defaultMetrics = true): Registry {
  if (defaultMetrics) registerProcessMetrics(registry);
  registerMonitorMetrics(registry, parts.monitor);
  if (parts.cache) registerCacheMetrics(registry, parts.cache);
  if (parts.proxy) registerProxyMetrics(registry, parts.proxy);
  if (parts.image) registerImageMetrics(registry, parts.image);
  if (parts.dashboard) registerDashboardMetrics(registry, parts.dashboard);
  const m = partMetrics(registry, parts.requests);
  m.gauge('headroom_app_requests_in_flight', "Requests of the app's own routes being answered now.", (s) => s.inFlight);
  m.counter('headroom_app_requests_shed_total', 'Requests of the app answered 503 because memory was critical.', (s) => s.shed);
  return registry;
}

/** Always registered by createMetricsRegistry: in a registry, it says a headroom uses it. */
const IN_FLIGHT = 'headroom_app_requests_in_flight';

/**
 * createMetricsRegistry into a registry the app supplied, returning what takes headroom's metrics
 * out again (call it on close), so that the next app on the same registry (a test, a hot reload)
 * can add its own. A registry another headroom still uses is refused with a message naming the
 * fix, not prom-client's raw "already registered". `where` names the option (`createHeadroom: registry`).
 */
export function addMetrics(parts: MetricsParts, registry: Registry, defaultMetrics: boolean, where: string): () => void {
  const fix = 'close that one first (app.close() or its close()), or give each app a registry of its own (leave registry unset)';
  if (registry.getSingleMetric(IN_FLIGHT))
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${where}: this registry already holds the metrics of another headroom still open: ${fix}`,
    );
  try {
    return registerRemovably(registry, () => createMetricsRegistry(parts, registry, defaultMetrics));
  } catch (err) {
    if (err instanceof Error && /already been registered/.test(err.message))
      throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${where}: ${err.message} (by the app or an earlier headroom): ${fix}`, {
        cause: err,
      });
    throw err;
  }
}

/**
 * Runs `register` against the registry and returns what takes the metrics it added out again (each
 * only while it is still the one registered); if `register` throws, what it added is taken out first.
 */
export function registerRemovably(registry: Registry, register: () => void): () => void {
  const before = new Set(registry.getMetricsAsArray().map((m) => m.name));
  const added = (): MetricObject[] => registry.getMetricsAsArray().filter((m) => !before.has(m.name));
  const remove = (metrics: MetricObject[]): void => {
    for (const m of metrics) if ((registry.getSingleMetric(m.name) as unknown) === m) registry.removeSingleMetric(m.name);
  };
  try {
    register();
  } catch (err) {
    remove(added());
    throw err;
  }
  const ours = added();
  return () => remove(ours.splice(0));
}

export async function scrape(registry: Registry): Promise<PlainResponse> {
  return { status: 200, headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' }, body: await exposition(registry) };
}
