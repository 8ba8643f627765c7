// One registry of every error headroom raises: a stable code, the HTTP status it maps to, and
// what it means. Routes never pick a status themselves; they throw a HeadroomError and the
// server's error handler looks the status up here. docs/errors.md is checked against this table
// by test/errors.test.ts.

export const ERRORS = {
  // configuration and start-up
  HEADROOM_CONFIG_INVALID: {
    status: 500,
    doc: 'A configuration value or option is invalid: the gateway stops start-up with exit code 2; a toolkit factory or an adapter throws it, naming the function the app called.',
  },
  // generic request problems
  HEADROOM_BAD_REQUEST: { status: 400, doc: 'A query parameter, header or body is malformed or out of range.' },
  HEADROOM_NOT_FOUND: { status: 404, doc: 'No route matches, or the route is turned off by configuration.' },
  HEADROOM_METHOD_NOT_ALLOWED: {
    status: 405,
    doc: 'The path exists but not for this method (e.g. GET on a POST admin route; TRACE through the proxy, which would echo its upstream token); the Allow header lists the methods it takes.',
  },
  HEADROOM_EXPECTATION_FAILED: {
    status: 417,
    doc: 'The request carries an Expect header other than 100-continue, the only expectation HTTP/1.1 defines; nothing was read.',
  },
  HEADROOM_BODY_TOO_LARGE: { status: 413, doc: 'A body exceeded its byte limit while it was being read.' },
  HEADROOM_REQUEST_TIMEOUT: {
    status: 408,
    doc: 'The client sent no request body bytes for CLIENT_TIMEOUT; the upstream request was aborted.',
  },
  HEADROOM_HEADERS_TOO_LARGE: {
    status: 431,
    doc: "The request's header section is larger than the HTTP parser accepts (Node's --max-http-header-size, 16 KiB by default), or has more lines than the server keeps (maxHeadersCount, 1000 by default; Node drops the rest).",
  },
  HEADROOM_CLIENT_CLOSED: { status: 499, doc: 'The client closed the connection before the answer was ready; nothing is sent.' },
  // admin API
  HEADROOM_ADMIN_DISABLED: {
    status: 403,
    doc: "The admin API is off because no token is set: HEADROOM_ADMIN_TOKEN for the gateway, the adminToken option of createHeadroom() (headroom-memory/toolkit) or of the adapter's export.",
  },
  HEADROOM_UNAUTHORIZED: { status: 401, doc: 'Missing or wrong bearer token for the admin API.' },
  HEADROOM_RATE_LIMITED: { status: 429, doc: 'Too many admin requests from one client; see Retry-After.' },
  HEADROOM_DASHBOARD_FULL: {
    status: 503,
    doc: 'The dashboard already streams to DASHBOARD_MAX_VIEWERS viewers; close a dashboard tab or raise the limit. See Retry-After.',
  },
  HEADROOM_SNAPSHOT_REFUSED: {
    status: 409,
    doc: 'A heap snapshot was refused: one is in progress, the last one was too recent (Retry-After), memory or disk space is too low, or the directory would be over its cap.',
  },
  // admission control and memory protection
  HEADROOM_OVERLOADED: { status: 503, doc: 'Concurrency limit reached and the queue is full; see Retry-After.' },
  HEADROOM_CLIENT_LIMIT: {
    status: 429,
    doc: 'This client address already holds MAX_CONCURRENT_PER_CLIENT upstream requests (maxPerClient), in flight or queued; see Retry-After.',
  },
  HEADROOM_QUEUE_TIMEOUT: { status: 503, doc: 'The request waited in the admission queue longer than allowed; see Retry-After.' },
  HEADROOM_MEMORY_PRESSURE: { status: 503, doc: 'The memory circuit breaker is open; see Retry-After.' },
  HEADROOM_SHED: { status: 503, doc: 'An in-flight response was aborted to relieve critical memory pressure.' },
  HEADROOM_DRAINING: {
    status: 503,
    doc: 'The gateway or app is shutting down and takes no new work; also a call on a part (cache, image service, proxy) after its close().',
  },
  // upstream
  HEADROOM_UPSTREAM_UNREACHABLE: {
    status: 502,
    doc: 'The upstream could not be reached (refused connection, host name that did not resolve, no route, connect timeout) or dropped the connection before answering; the message says which.',
  },
  HEADROOM_UPSTREAM_TIMEOUT: { status: 504, doc: 'The upstream sent no response headers (or no body after them) within STREAM_TIMEOUT.' },
  HEADROOM_UPSTREAM_ERROR: { status: 502, doc: 'The upstream answered with something that cannot be relayed.' },
  HEADROOM_BODY_CONSUMED: {
    status: 500,
    doc: 'A body parser of the app read the request body before the proxy, so it cannot be forwarded; the upstream is not called. Mount the proxy before body parsers.',
  },
  HEADROOM_PATH_REJECTED: { status: 400, doc: 'The request path would escape the upstream base path.' },
  // image proxy
  HEADROOM_IMAGE_ORIGIN_FORBIDDEN: { status: 403, doc: 'The image URL is not in IMAGE_ALLOWED_ORIGINS or resolves to a private address.' },
  HEADROOM_IMAGE_TOO_LARGE: { status: 413, doc: 'The source image exceeded IMAGE_MAX_SOURCE_BYTES while downloading.' },
  HEADROOM_IMAGE_UNSUPPORTED: { status: 415, doc: 'The source bytes are not an image format headroom accepts.' },
  HEADROOM_IMAGE_TIMEOUT: { status: 504, doc: 'The image origin did not deliver within IMAGE_TIMEOUT.' },
  HEADROOM_IMAGE_TRANSFORM_TIMEOUT: {
    status: 504,
    doc: 'The requested transform ran longer than IMAGE_TRANSFORM_TIMEOUT and was stopped; ask for a smaller output or a faster format.',
  },
  HEADROOM_IMAGE_FETCH_FAILED: { status: 502, doc: 'The image origin failed or answered with a non-2xx status.' },
  HEADROOM_IMAGE_TOO_MANY_PIXELS: { status: 400, doc: 'The image or the requested output is beyond the pixel or dimension limit.' },
  HEADROOM_IMAGE_SHARP_UNAVAILABLE: {
    status: 500,
    doc: 'sharp, which image transforms load on first use, cannot be loaded (not installed, or no binary for this OS and CPU); the message names the fix.',
  },
  // cache
  HEADROOM_CACHE_LOADER_TIMEOUT: { status: 504, doc: 'A getOrSet loader did not finish within its timeout.' },
  HEADROOM_CACHE_VALUE_INVALID: { status: 500, doc: 'A value cannot be cached (not JSON-serialisable and not bytes).' },
  HEADROOM_CACHE_STREAM_SIZE_MISMATCH: {
    status: 500,
    doc: "setStream's readable delivered more or fewer bytes than its declared size; nothing was cached.",
  },
  HEADROOM_CACHE_STORE_UNAVAILABLE: {
    status: 503,
    doc: 'The L2 store (Redis, or the disk directory) failed or cannot be reached. The cache counts it, skips L2 for a while and serves from L1; only a stream from getStream that was already flowing ends with it.',
  },
  HEADROOM_CACHE_STORE_BUSY: {
    status: 503,
    doc: 'The Redis L2 already has CACHE_REDIS_MAX_PENDING calls in flight (or its connections hold that many commands): the call skips Redis at once and the cache serves from L1. Counted in stats().l2.redis.refused; not a failure of Redis, so the circuit breaker stays closed.',
  },
  HEADROOM_CACHE_STORE_CORRUPT: {
    status: 500,
    doc: 'A value in the L2 store is corrupt or truncated. It is counted, deleted and read as a miss; only a stream from getStream that was already flowing ends with it.',
  },
  HEADROOM_CACHE_ENTRY_TOO_LARGE: {
    status: 413,
    doc: 'A value is over a bound of the L2 store: its byte cap (it is not stored there) or the most get() loads into memory (use getStream()). The cache treats it as not stored, or as a miss.',
  },
  // anything unexpected
  HEADROOM_INTERNAL: { status: 500, doc: 'An unexpected error; details are in the log.' },
} as const satisfies Record<string, { status: number; doc: string }>;

// Frozen: the registry is public (headroom-memory/errors) and one code must keep one status.
for (const e of Object.values(ERRORS)) Object.freeze(e);
Object.freeze(ERRORS);

export type ErrorCode = keyof typeof ERRORS;

/** A code outside the registry has no status: the mistake is named, not a TypeError on `.status` of undefined. */
function checkCode(where: string, code: unknown): void {
  if (!isErrorCode(code))
    throw new TypeError(`${where}: ${JSON.stringify(code) ?? String(code)} is not one of headroom's error codes (see ERRORS)`);
}

/** The HTTP status a code maps to. */
export function statusOf(code: ErrorCode): number {
  checkCode('statusOf', code);
  return ERRORS[code].status;
}

/** True for a code of this registry (e.g. the `error.code` of a gateway response body). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

export interface HeadroomErrorOptions {
  cause?: unknown;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

/**
 * Marks every HeadroomError, whichever copy of headroom made it. The package ships an ESM and a
 * CommonJS build; an app that loads both (its own code require()s one entry, a dependency imports
 * another) has two HeadroomError classes, and `instanceof` answers false across them. The brand is
 * a registered symbol (Symbol.for), the same in every copy and realm: isHeadroomError() checks it.
 */
const BRAND = Symbol.for('headroom-memory.HeadroomError');

export class HeadroomError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: HeadroomErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    checkCode('HeadroomError', code);
    this.name = 'HeadroomError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

Object.defineProperty(HeadroomError.prototype, BRAND, { value: true });

/** True for a HeadroomError from any copy of headroom (ESM or CommonJS build); prefer it to instanceof. */
export function isHeadroomError(err: unknown): err is HeadroomError {
  return err instanceof HeadroomError || (typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true);
}

/** The JSON body every error response uses. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}
