// Options of createProxy, createUpstreamClient and proxyRoutes, declared once: the gateway's
// configuration (src/config/sections/proxy.ts) wraps proxySpecs, and the factories validate their
// arguments with the same objects. Library-only options (no environment variable) are kept apart.
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import {
  bool,
  bytes,
  duration,
  list,
  num,
  memoryMonitor,
  optionalFunction,
  optionalObject,
  optionalStr,
  optionalUrl,
  Refused,
  str,
  type OptionSpec,
  VISIBLE_ASCII,
} from '../options/spec.js';
import type { Cache } from '../cache/types.js';
import type { PressureSource } from '../monitor/types.js';
import type { Proxy } from './proxy.js';
import type { AdmissionOptions, HeadroomAdmission } from '../admission/index.js';

/** The upstream URL's path is a base path; a query or fragment would be dropped silently, so they are refused. */
function withoutQuery(base: OptionSpec<string | undefined>): OptionSpec<string | undefined> {
  return {
    ...base,
    parse(raw) {
      const value = base.parse(raw);
      if (typeof value !== 'string') return value;
      const u = new URL(value);
      return u.search || u.hash
        ? new Refused(`${base.accepted} and without a ?query or #fragment (the request's own query is sent)`)
        : value;
    },
  };
}

/** createProxy's options that the gateway configures too (UPSTREAM_URL, PROXY_*, STREAM_TIMEOUT, …). */
export const proxySpecs = {
  upstreamUrl: withoutQuery(
    optionalUrl({
      env: 'UPSTREAM_URL',
      doc: 'Origin the proxy prefix is streamed to. Unset: the built-in demo origin is started and used.',
      default: undefined,
      defaultText: 'built-in demo origin',
      // The proxy connects to the URL's origin, which has no user:password@: credentials in it
      // would silently never reach the upstream, so they are refused instead.
      userinfoHint: 'the proxy would not send those credentials; give a bearer token as the upstream token instead',
    }),
  ),
  upstreamToken: optionalStr({
    env: 'UPSTREAM_TOKEN',
    doc: 'Sent upstream as Authorization: Bearer …; never returned to clients or logged.',
    default: undefined,
    secret: true,
    // Checked here: a character a header cannot carry would fail every proxied request instead.
    pattern: VISIBLE_ASCII,
    accepted:
      "must be 1 to 4096 visible ASCII characters without spaces (a bearer token, such as RFC 6750's token68: letters, digits, - . _ ~ + / =)",
  }),
  prefix: str({
    env: 'PROXY_PREFIX',
    doc: 'Path prefix routed to the upstream.',
    default: '/api',
    pattern: /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/,
    accepted: 'must be a path like /api (letters, digits, . _ ~ -; no trailing slash)',
  }),
  stripPrefix: bool({ env: 'PROXY_STRIP_PREFIX', doc: 'Remove the prefix before forwarding (/api/x → /x).', default: true }),
  rewriteLocation: bool({
    env: 'PROXY_REWRITE_LOCATION',
    doc: "Rewrite a response's Location that points into the upstream (its origin, or a path, under its base path) to the path the client used (Location: http://upstream/x or /x → /api/x). false passes it on as sent.",
    default: true,
  }),
  enabled: bool({ env: 'ENABLE_STREAMING_PROXY', doc: 'false turns the proxy routes off (404 with an explanation).', default: true }),
  streamTimeout: duration({
    env: 'STREAM_TIMEOUT',
    doc: 'Upstream must send headers within this time (504), and a body may not idle longer.',
    default: 30_000,
    min: 100,
    max: 3_600_000,
  }),
  clientTimeout: duration({
    env: 'CLIENT_TIMEOUT',
    doc: 'Longest a client may send none of its request body while it holds an upstream slot (then 408). Time spent waiting for the upstream (one that reads the upload slowly) does not count.',
    default: 15_000,
    min: 100,
    max: 600_000,
  }),
  clientReadTimeout: duration({
    env: 'CLIENT_READ_TIMEOUT',
    doc: "Longest a client may take none of a response while it holds an upstream slot (then the connection is closed and the upstream request aborted). Progress is the kernel taking more of the body, which a client reading steadily allows only in steps (Linux wakes the writer once a third or so of a socket buffer of up to 4 MiB is free): a client reading 16 KiB a second waited up to 43 s between steps here, so a bound much under a minute cuts slow readers that do read (nginx's send_timeout is 60 s).",
    default: 60_000,
    min: 100,
    max: 3_600_000,
  }),
  clientMinRate: bytes({
    env: 'CLIENT_MIN_RATE',
    doc: 'Slowest a request body may arrive while it holds an upstream slot, in bytes a second (512, 1KiB) over any CLIENT_TIMEOUT (then 408): a client sending a byte now and then makes progress, and would hold the slot for ever. 0: only an upload that stops is cut.',
    default: 512,
    min: 0,
    max: 1024 ** 3,
  }),
  maxBufferSize: bytes({
    env: 'MAX_BUFFER_SIZE',
    doc: 'Largest response body the proxy caches; larger ones stream through uncached.',
    default: 10 * 1024 * 1024,
    min: 0,
    max: 1024 ** 3,
  }),
  trustForwarded: bool({
    env: 'PROXY_TRUST_FORWARDED',
    doc: "Keep the client's X-Forwarded-Proto/-Host (only behind a trusted load balancer); X-Forwarded-For is always appended to.",
    default: false,
  }),
  dropHeaders: list({
    env: 'PROXY_DROP_HEADERS',
    doc: "Request headers never passed upstream, e.g. the app's own credentials (x-api-key, cookie) when the upstream is another party. Matched in any case.",
    default: [],
    item: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
    itemText: 'header names',
    maxItems: 64,
  }),
  // The default was measured in bench/proxy (docs/benchmarks.md).
  gcAssistBytes: bytes({
    env: 'PROXY_GC_ASSIST',
    doc: "Run a young-generation GC (a scavenge, well under a millisecond) after every this many response bytes relayed. Each socket read allocates a fresh buffer that V8 otherwise frees only after tens of MiB of them pile up; this keeps most of that garbage near the given size (bench medians, RSS growth over 64 × 256 MB downloads: 41 MiB vs 52 MiB without). With it on, a full GC (concurrent) also frees the proxy's dead cache copies once 2 × MAX_BUFFER_SIZE of them have died, and the gateway starts one when memory turns warning or critical and every 2 s until it is healthy again (dead Buffers outside a small heap otherwise wait for tens of seconds). Enables V8's gc() for this process at runtime (new vm contexts see a gc global). 0 turns all of this off.",
    default: 8 * 1024 * 1024,
    min: 0,
    max: 1024 ** 3,
  }),
  cacheAuthorized: bool({
    env: 'PROXY_CACHE_AUTHORIZED',
    doc: 'Also cache responses to requests carrying Authorization (only if you know they are shared).',
    default: false,
  }),
};

/** `undefined` (derived at run time) instead of the spec's own default. */
function derived<T>(s: OptionSpec<T>, defaultText: string): OptionSpec<T | undefined> {
  return { ...s, default: undefined, defaultText };
}

/** Unset is refused by the factory (with the spec's accepted text). */
const required = <T>(s: OptionSpec<T | undefined>): OptionSpec<T | undefined> => ({ ...s, defaultText: 'required' });

const monitor = memoryMonitor<PressureSource>('Memory monitor: cache writes are skipped while it is not healthy.');
const logger = optionalObject<Logger>({ doc: 'Where upstream failures are logged (warn).', what: 'a logger', methods: ['warn'] });
const cache = optionalObject<Cache>({
  doc: 'Cache for responses; unset: no caching.',
  what: 'a cache from createCache()',
  methods: ['get', 'set'],
});

/** createProxy's library-only options (no environment variable; not in the configuration). */
export const proxyLibrarySpecs = {
  connections: derived(
    num({ doc: 'Upstream keep-alive connections.', default: 1, min: 1, max: 100_000, integer: true }),
    'the admission limit',
  ),
  // The gateway passes SHUTDOWN_TIMEOUT here; same bounds.
  closeTimeout: duration({
    doc: 'How long close() waits for in-flight requests before ending them (503 HEADROOM_DRAINING to those not yet answered).',
    default: 5_000,
    min: 0,
    max: 600_000,
  }),
  admission: optionalObject<HeadroomAdmission>({
    doc: 'Shared admission controller (not closed by the proxy); without one the proxy makes its own from limits.',
    what: 'a controller from createAdmission() (an object with only acquire() cannot take slots synchronously or shed responses)',
    methods: ['tryAcquire', 'enqueue', 'add', 'untrack', 'breakerOpen', 'stats'],
  }),
  limits: optionalObject<AdmissionOptions>({
    doc: "createAdmission's options for the proxy's own controller, used without admission; limits.monitor is also the default monitor.",
    what: 'an object of createAdmission options',
    methods: [],
  }),
  clientOf: optionalFunction<(req: IncomingMessage) => string>({
    doc: "The client a request counts against for limits.maxPerClient. Default: req.ip (Express's, under its trust proxy setting), else the socket's address.",
    what: 'a function (req) => client address',
  }),
  cache,
  monitor,
  logger,
};

/** createUpstreamClient's options: all library-only. */
export const upstreamClientSpecs = {
  baseUrl: required(
    optionalUrl({
      doc: 'Absolute http(s) URL; request paths are appended to its path.',
      default: undefined,
      userinfoHint: 'the client would not send those credentials; give a bearer token in token instead',
    }),
  ),
  token: optionalStr({ doc: 'Sent upstream as Authorization: Bearer …; never logged.', default: undefined, secret: true }),
  timeout: duration({
    doc: 'Per-request timeout: response headers, then each idle gap in the body.',
    default: 30_000,
    min: 1,
    max: 3_600_000,
  }),
  maxBodyBytes: bytes({
    doc: 'Largest body json() reads; the download is aborted as soon as it passes.',
    default: 10 * 1024 * 1024,
    min: 0,
    max: 1024 ** 3,
  }),
  cacheTtl: duration({ doc: 'TTL of cached GET responses.', default: 60_000, min: 1, max: 365 * 24 * 3_600_000 }),
  connections: num({ doc: 'Keep-alive connections.', default: 16, min: 1, max: 100_000, integer: true }),
  headers: headerRecord(),
  cache,
  monitor,
};

/** proxyRoutes' options. */
export const proxyRouteSpecs = {
  proxy: required(
    optionalObject<Proxy>({ doc: 'The proxy to mount.', what: 'a proxy from createProxy()', methods: ['handle', 'matches', 'drain'] }),
  ),
  raw: bool({ doc: "Route the prefix on the raw server before Fastify's routing (the app's hooks do not run for it).", default: false }),
};

/** Extra request headers: an object of string values. */
function headerRecord(): OptionSpec<Record<string, string> | undefined> {
  return {
    doc: 'Headers sent with every request.',
    accepted: 'must be an object of header names to string values',
    default: undefined,
    defaultText: 'unset',
    secret: true, // values may hold credentials
    parse: (raw) =>
      typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.values(raw).every((v) => typeof v === 'string')
        ? (raw as Record<string, string>)
        : undefined,
  };
}
