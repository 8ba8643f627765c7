// headroom-memory/proxy: streaming reverse proxy, admission control and the bounded upstream client.
export { createProxy, type Proxy, type ProxyOptions, type ProxyStats } from './proxy.js';
export type { FetchInfo } from './web.js';
export { newProxyNote, type ProxyNote } from './note.js';
export type { CacheOutcome } from '../cache/cache-status.js';
// Admission lives in src/admission (shared with the image routes); re-exported so imports keep working.
export {
  createAdmission,
  type Admission,
  type AdmissionOptions,
  type AdmissionStats,
  type HeadroomAdmission,
  type Release,
  type Sheddable,
} from '../admission/index.js';
export {
  createUpstreamClient,
  readLimited,
  type UpstreamClient,
  type UpstreamClientOptions,
  type RequestOptions,
  type StreamResponse,
} from './upstream-client.js';
export { pathEscapes } from './path.js';
export { sharedTtl, parseCacheControl } from './cache-policy.js';
export { etagMatches } from '../cache/etag.js';
export type { ErrorKind } from './stats.js';
export { proxyRoutes, type ProxyRouteOptions } from './fastify.js';
export { registerProxyMetrics } from '../metrics/proxy.js';
export * from '../errors-entry.js';
