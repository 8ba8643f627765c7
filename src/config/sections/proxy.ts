// Options of the streaming reverse proxy and admission control: declared once in src/proxy/options.ts
// and src/admission/options.ts (default, bounds, doc), which createProxy and createAdmission use too.
import { bool, option } from '../options.js';
import { proxySpecs as p } from '../../proxy/options.js';
import { admissionSpecs as a } from '../../admission/options.js';

/** The first path segments of the gateway's own routes: a proxy prefix there would hide them (or crash the routing). */
export const OWN_ROOTS = ['health', 'metrics', 'admin', 'image', 'dashboard'];

export const proxyOptions = {
  upstreamUrl: option(p.upstreamUrl),
  upstreamToken: option(p.upstreamToken),
  // Gateway-only rule (checked in config/schema.ts crossChecks): a library proxy has no such routes.
  prefix: option({
    ...p.prefix,
    doc: `${p.prefix.doc} Not one of the gateway's own routes (${OWN_ROOTS.map((r) => `/${r}`).join(', ')}) or under one.`,
  }),
  stripPrefix: option(p.stripPrefix),
  rewriteLocation: option(p.rewriteLocation),
  enabled: option(p.enabled),
  maxConcurrent: option(a.maxConcurrent),
  maxPerClient: option(a.maxPerClient),
  queueSize: option(a.queueSize),
  queueTimeout: option(a.queueTimeout),
  memoryThresholdPercent: option(a.memoryThresholdPercent),
  streamTimeout: option(p.streamTimeout),
  clientTimeout: option(p.clientTimeout),
  // Gateway-only use too (server/app.ts): a library proxy has no such routes.
  clientReadTimeout: option({
    ...p.clientReadTimeout,
    doc: `${p.clientReadTimeout.doc} The gateway's own routes and cache hits close a connection whose answer (/metrics, an admin report, a cached body) makes no progress for this long too, and so does the image route.`,
  }),
  clientMinRate: option(p.clientMinRate),
  maxBufferSize: option(p.maxBufferSize),
  // Gateway-only: a library proxy caches when it is given a cache.
  cacheEnabled: bool({ env: 'PROXY_CACHE_ENABLED', doc: 'Cache shareable GET/HEAD responses (RFC 9111).', default: true }),
  trustForwarded: option(p.trustForwarded),
  dropHeaders: option(p.dropHeaders),
  gcAssist: option(p.gcAssistBytes),
  cacheAuthorized: option(p.cacheAuthorized),
} as const;
