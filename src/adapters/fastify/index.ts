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
export type { MemoryMonitor, MemorySample, MemoryStatus, MemoryMonitorOptions } from '../../monitor/types.js';
// The error registry and each part's Prometheus registration, as every entry exports them.
export * from '../../shared-entry.js';
// Capped request/response body capture (docs/logging.md#capped-body-capture).
export { captureBodies } from './capture.js';
export * from '../../capture-entry.js';
// Request memory accounting (docs/logging.md#request-memory-accounting).
export { accountRequests, type AccountRequestsOptions } from './accounting.js';
// Per-route heap attribution (docs/logging.md#per-route-heap-attribution).
export { attributeRouteHeap, type AttributeRouteHeapOptions } from './route-heap.js';
