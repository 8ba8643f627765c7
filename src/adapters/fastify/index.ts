// headroom-memory/fastify: the Fastify plugin and the parts behind it.
//
//   import { headroom } from 'headroom-memory/fastify';
//   await app.register(headroom, { proxy: { upstreamUrl: process.env.UPSTREAM_URL } });
export { headroom, headroom as default, isOwnRoute, type FastifyHeadroomOptions, type FastifyMemory } from './plugin.js';
export { fastifyPluginSpecs } from './options.js';
export { adminRoutes, healthRoutes, imageRoutes, metricsRoutes, proxyHandler, OWN_ROUTE, type HeadroomRouteOptions } from './routes.js';
export { proxyRoutes, type ProxyRouteOptions } from '../../proxy/fastify.js';
export { gracefulShutdown, type FastifyShutdownOptions } from './shutdown.js';
// The framework-neutral core, for parts the plugin does not mount.
export { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
export type { Shutdown } from '../../toolkit/shutdown.js';
// Prometheus registrations of each part, for an app's own prom-client registry.
export { registerMonitorMetrics } from '../../metrics/monitor.js';
export { registerCacheMetrics } from '../../metrics/cache.js';
export { registerProxyMetrics } from '../../metrics/proxy.js';
export { registerImageMetrics } from '../../metrics/image.js';
export { createMetricsRegistry } from '../../toolkit/metrics.js';
// The error registry: codes, statuses and the error class every part throws.
export { ERRORS, HeadroomError, isErrorCode, isHeadroomError, statusOf } from '../../errors.js';
export type { ErrorCode, HeadroomErrorOptions } from '../../errors.js';
export type { MemoryMonitor, MemorySample, MemoryStatus, MemoryMonitorOptions } from '../../monitor/types.js';
export * from '../../shared-entry.js';
