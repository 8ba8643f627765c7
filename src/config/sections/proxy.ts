// Options of the streaming reverse proxy (src/proxy) and admission control (declared once in
// src/admission/options.ts, which createAdmission uses too).
import { bool, bytes, duration, option, optionalStr, optionalUrl, str } from '../options.js';
import { admissionSpecs as a } from '../../admission/options.js';

export const proxyOptions = {
  upstreamUrl: optionalUrl({
    env: 'UPSTREAM_URL',
    doc: 'Origin the proxy prefix is streamed to. Unset: the built-in demo origin is started and used.',
    default: undefined,
    defaultText: 'built-in demo origin',
    // The proxy connects to the URL's origin, which has no user:password@: credentials in it
    // would silently never reach the upstream, so they are refused instead.
    userinfoHint: 'the proxy would not send those credentials; give a bearer token in UPSTREAM_TOKEN instead',
  }),
  upstreamToken: optionalStr({
    env: 'UPSTREAM_TOKEN',
    doc: 'Sent upstream as Authorization: Bearer …; never returned to clients or logged.',
    default: undefined,
    secret: true,
  }),
  prefix: str({ env: 'PROXY_PREFIX', doc: 'Path prefix routed to the upstream.', default: '/api', pattern: /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, accepted: 'must be a path like /api (letters, digits, . _ ~ -; no trailing slash)' }),
  stripPrefix: bool({ env: 'PROXY_STRIP_PREFIX', doc: 'Remove the prefix before forwarding (/api/x → /x).', default: true }),
  enabled: bool({ env: 'ENABLE_STREAMING_PROXY', doc: 'false turns the proxy routes off (404 with an explanation).', default: true }),
  maxConcurrent: option(a.maxConcurrent),
  queueSize: option(a.queueSize),
  queueTimeout: option(a.queueTimeout),
  memoryThresholdPercent: option(a.memoryThresholdPercent),
  streamTimeout: duration({ env: 'STREAM_TIMEOUT', doc: 'Upstream must send headers within this time (504), and a body may not idle longer.', default: 30_000, min: 100, max: 3_600_000 }),
  clientTimeout: duration({
    env: 'CLIENT_TIMEOUT',
    doc: 'Longest a client may make no progress while it holds an upstream slot: sending the request body (then 408) or reading the response (then the connection is closed). Time spent waiting for the upstream does not count.',
    default: 15_000,
    min: 100,
    max: 600_000,
  }),
  maxBufferSize: bytes({ env: 'MAX_BUFFER_SIZE', doc: 'Largest response body the proxy caches; larger ones stream through uncached.', default: 10 * 1024 * 1024, min: 0, max: 1024 ** 3 }),
  cacheEnabled: bool({ env: 'PROXY_CACHE_ENABLED', doc: 'Cache shareable GET/HEAD responses (RFC 9111).', default: true }),
  trustForwarded: bool({ env: 'PROXY_TRUST_FORWARDED', doc: 'Keep the client\'s X-Forwarded-Proto/-Host (only behind a trusted load balancer); X-Forwarded-For is always appended to.', default: false }),
  gcAssist: bytes({
    env: 'PROXY_GC_ASSIST',
    doc: "Run a young-generation GC (a scavenge, well under a millisecond) after every this many response bytes relayed. Each socket read allocates a fresh buffer that V8 otherwise frees only after tens of MiB of them pile up; this keeps most of that garbage near the given size (bench medians, RSS growth over 64 × 256 MB downloads: 41 MiB vs 52 MiB without). Enables V8's gc() for this process at runtime (new vm contexts see a gc global). 0 turns it off.",
    default: 8 * 1024 * 1024,
    min: 0,
    max: 1024 ** 3,
  }),
  cacheAuthorized: bool({ env: 'PROXY_CACHE_AUTHORIZED', doc: 'Also cache responses to requests carrying Authorization (only if you know they are shared).', default: false }),
} as const;
