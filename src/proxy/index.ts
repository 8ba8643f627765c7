// headroom/proxy: streaming reverse proxy, admission control and the bounded upstream client.
export { createProxy, type Proxy, type ProxyOptions, type ProxyStats } from './proxy.js';
export { createAdmission, type AdmissionOptions, type HeadroomAdmission, type Sheddable } from './admission.js';
export type { Admission, AdmissionStats, Release } from './admission-types.js';
export { createUpstreamClient, readLimited, type UpstreamClient, type UpstreamClientOptions, type RequestOptions, type StreamResponse } from './upstream-client.js';
export { pathEscapes } from './path.js';
export { sharedTtl, parseCacheControl, etagMatches } from './cache-policy.js';
export type { ErrorKind } from './stats.js';
export { proxyRoutes, type ProxyRouteOptions } from './fastify.js';
