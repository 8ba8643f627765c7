// Options of the gateway server itself (src/server, src/cli).
import { bool, bytes, duration, num, oneOf, option, str, trustProxy } from '../options.js';
import { isListenHost } from '../../options/spec.js';
import { adminTokenSpec } from '../../options/admin-token.js';
import { observeSpecs } from '../../observe/options.js';
import { accountingSpecs } from '../../log/accounting.js';

export const serverOptions = {
  port: num({
    env: 'PORT',
    doc: 'TCP port the gateway listens on (0 picks a free port).',
    default: 3000,
    min: 0,
    max: 65535,
    integer: true,
  }),
  host: str({
    env: 'HOST',
    doc: 'Interface to listen on. The default serves only this machine; use 0.0.0.0 in a container.',
    default: '127.0.0.1',
    maxLength: 255,
    valid: isListenHost,
    accepted: 'must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name of this machine',
  }),
  logLevel: oneOf({
    env: 'LOG_LEVEL',
    doc: 'pino log level.',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
  }),
  logFormat: option(observeSpecs.logFormat),
  accessLog: option(observeSpecs.accessLog),
  accessLogQuery: option(observeSpecs.accessLogQuery),
  accessLogProbes: option(observeSpecs.accessLogProbes),
  adminToken: option(
    adminTokenSpec({
      env: 'HEADROOM_ADMIN_TOKEN',
      doc: 'Bearer token for /admin/*. Unset turns the admin API off (403), never open. Use at least 16 random characters.',
    }),
  ),
  metricsToken: option(
    adminTokenSpec({
      env: 'METRICS_TOKEN',
      doc: 'With it, GET /metrics answers only a scraper sending "Authorization: Bearer <token>" (401 otherwise). Unset: /metrics answers anyone who reaches the port. At least 16 random characters.',
    }),
  ),
  adminRateLimit: num({
    env: 'ADMIN_RATE_LIMIT',
    doc: 'Admin requests allowed per client IP per minute; more get 429 with Retry-After.',
    default: 60,
    min: 1,
    max: 100_000,
    integer: true,
  }),
  compressionEnabled: bool({
    env: 'COMPRESSION_ENABLED',
    doc: "Compress the gateway's own JSON responses (health, metrics, admin).",
    default: true,
  }),
  compressionLevel: num({
    env: 'COMPRESSION_LEVEL',
    doc: 'gzip/deflate level, 1 (fast) to 9 (small).',
    default: 6,
    min: 1,
    max: 9,
    integer: true,
  }),
  compressionThreshold: bytes({
    env: 'COMPRESSION_THRESHOLD',
    doc: 'Responses smaller than this are sent uncompressed.',
    default: 1024,
    min: 0,
    max: 10 * 1024 * 1024,
  }),
  shutdownTimeout: duration({
    env: 'SHUTDOWN_TIMEOUT',
    doc: 'How long SIGTERM/SIGINT waits for in-flight requests before closing everything; proxied requests still waiting for the upstream then get 503 HEADROOM_DRAINING.',
    default: 10_000,
    min: 0,
    max: 600_000,
  }),
  shutdownDelay: duration({
    env: 'SHUTDOWN_DELAY',
    doc: 'On SIGTERM, readiness answers 503 for this long before the listener closes, so load balancers stop sending traffic (Kubernetes: a few seconds).',
    default: 0,
    min: 0,
    max: 120_000,
  }),
  bodyLimit: bytes({
    env: 'HEADROOM_BODY_LIMIT',
    doc: "No effect; kept so existing configurations still start. The gateway's own routes read no request body (one sent to them is not read, and the connection is closed after the answer); proxied bodies are streamed.",
    default: 1024 * 1024,
    min: 1024,
    max: 100 * 1024 * 1024,
  }),
  trustProxy: trustProxy({
    env: 'TRUST_PROXY',
    doc: 'Proxies whose X-Forwarded-For is believed for the client address (admin rate limit, logs, MAX_CONCURRENT_PER_CLIENT): the number of proxies in front (e.g. 1 behind one load balancer) or their addresses/CIDRs. false: the socket address.',
    default: false,
  }),
  // The default depends on NODE_ENV: load.ts resolves it (a static default cannot say that).
  demo: bool({
    env: 'HEADROOM_DEMO',
    doc: 'Without UPSTREAM_URL, serve the built-in demo origin (sample JSON, downloads, images). When off, a missing UPSTREAM_URL stops start-up (exit code 2).',
    default: true,
    defaultText: 'true, false when NODE_ENV=production',
  }),
  requestAccounting: bool({
    env: 'REQUEST_ACCOUNTING',
    doc: 'Charge what the gateway holds for each request (proxy cache tee and bytes queued toward the client, image decode and encode reservations) to that request: headroom_request_bytes_held and per-route headroom_request_* metrics, and a warn line for a request above REQUEST_ACCOUNTING_WARN_BYTES. Off: no ledger is opened (the parts then check for one and charge nothing).',
    default: false,
  }),
  // The threshold's one home is the accounting's own option; the gateway gives it a variable.
  requestAccountingWarnBytes: option({
    ...accountingSpecs.warnBytes,
    env: 'REQUEST_ACCOUNTING_WARN_BYTES',
    doc: 'With REQUEST_ACCOUNTING: a request holding more than this at its peak is logged at warn (route, peak, charged, ms).',
  }),
} as const;
