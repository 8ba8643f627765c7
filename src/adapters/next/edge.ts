// headroom-memory/next on the Edge runtime (the package's "edge-light" export condition): the same
// exports as index.ts, each a documented no-op that warns once. Route handlers answer 501 saying
// to set `export const runtime = 'nodejs'`; nothing here imports a Node.js module.
import type { Headroom, HeadroomOptions } from '../../toolkit/headroom.js';
import type * as Metrics from '../../metrics-entry.js';
import type { Authorize, ImageRouteOptions, ProxyRouteHandlers, ProxyRouteOptions } from './index.js';
import { edgeResponse, routeHandlers, warnEdgeOnce, type RouteHandler, type RouteHandlers } from './runtime.js';

export { createImageLoader, type ImageLoaderOptions, type ImageLoaderProps } from './image-loader.js';
export { isNodeRuntime } from './runtime.js';
export type { Authorize, Headroom, HeadroomOptions, ImageRouteOptions, ProxyRouteHandlers, ProxyRouteOptions, RouteHandler, RouteHandlers };
// The error registry is plain JavaScript: the real one, so code shared with Node.js routes can use it.
export * from '../../errors-entry.js';
export type { AppRequestStats, MetricsParts } from '../../metrics-entry.js';

const refuse: RouteHandler = async () => edgeResponse();

export function getHeadroom(_options?: HeadroomOptions): Headroom {
  warnEdgeOnce();
  throw new Error("headroom-memory/next: getHeadroom() needs the Node.js runtime (export const runtime = 'nodejs')");
}

export async function closeHeadroom(): Promise<void> {}

export async function registerHeadroom(_options?: HeadroomOptions): Promise<Headroom | undefined> {
  return undefined;
}

export const register = async (): Promise<void> => {};

export function withHeadroom(handler: RouteHandler, _options?: HeadroomOptions): RouteHandler {
  return async (request, context) => {
    warnEdgeOnce();
    return handler(request, context);
  };
}

export function createProxyRoute(_options: ProxyRouteOptions): ProxyRouteHandlers {
  return routeHandlers(refuse, ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
}

export function createImageRoute(_options: ImageRouteOptions): RouteHandlers<'GET' | 'HEAD'> {
  return routeHandlers(refuse, ['GET', 'HEAD']);
}

export function createHealthRoute(_kind?: 'health' | 'live' | 'ready', _options?: HeadroomOptions): RouteHandlers<'GET' | 'HEAD'> {
  return routeHandlers(refuse, ['GET', 'HEAD']);
}

export function createMetricsRoute(_options?: HeadroomOptions): RouteHandlers<'GET'> {
  return routeHandlers(refuse, ['GET']);
}

export function createAdminRoute(_options?: HeadroomOptions & { mount?: string }): RouteHandlers<'GET' | 'POST'> {
  return routeHandlers(refuse, ['GET', 'POST']);
}

/** The Prometheus registration needs prom-client and the Node.js runtime: on Edge each throws saying so. */
function nodeOnly<F>(name: string): F {
  return (() => {
    warnEdgeOnce();
    throw new Error(`headroom-memory/next: ${name}() needs the Node.js runtime (export const runtime = 'nodejs')`);
  }) as F;
}
export const createMetricsRegistry = nodeOnly<typeof Metrics.createMetricsRegistry>('createMetricsRegistry');
export const registerMonitorMetrics = nodeOnly<typeof Metrics.registerMonitorMetrics>('registerMonitorMetrics');
export const registerProcessMetrics = nodeOnly<typeof Metrics.registerProcessMetrics>('registerProcessMetrics');
export const registerCacheMetrics = nodeOnly<typeof Metrics.registerCacheMetrics>('registerCacheMetrics');
export const registerProxyMetrics = nodeOnly<typeof Metrics.registerProxyMetrics>('registerProxyMetrics');
export const registerImageMetrics = nodeOnly<typeof Metrics.registerImageMetrics>('registerImageMetrics');
export const registerLogShipMetrics = nodeOnly<typeof Metrics.registerLogShipMetrics>('registerLogShipMetrics');
export const registerDashboardMetrics = nodeOnly<typeof Metrics.registerDashboardMetrics>('registerDashboardMetrics');
export const exposition = nodeOnly<typeof Metrics.exposition>('exposition');
