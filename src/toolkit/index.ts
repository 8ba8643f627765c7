// headroom-memory/toolkit: the framework-neutral core every adapter is built on. Use it directly
// to wire headroom into a framework without an adapter of its own.
export { createHeadroom, type Headroom, type HeadroomOptions } from './headroom.js';
export { acquireSharedMonitor, sharedMonitor, type SharedMonitor } from './shared-monitor.js';
export { jsonResponse, errorResponse, writePlain, toWebResponse, type PlainResponse } from './response.js';
export { createAdminApi, memoryStats, collectGarbage, parseTag, type AdminApi, type AdminApiOptions, type AdminRequest } from './admin.js';
export { createHealthResponder, type HealthResponder } from './health.js';
export { createMetricsRegistry, scrape, type AppRequestStats, type MetricsParts } from './metrics.js';
export { gracefulShutdown, type Shutdown, type ShutdownOptions } from './shutdown.js';
export { continueOnRead } from './continue.js';
export { bodyConsumed, proxyNodeRequest } from './node-proxy.js';
export {
  nodeMiddleware,
  clientAddress,
  type NodeMiddleware,
  type NodeRequest,
  type NodeRoutePaths,
  type NextFunction,
} from './node-middleware.js';
export { serveNodeImage, queryObject } from './node-image.js';
export * from '../shared-entry.js';
export { captureMiddleware } from './node-capture.js';
export { accountingMiddleware } from './node-capture.js';
