// createProxy: composes the proxy's concerns — path rules (path.ts), header rules (headers.ts),
// admission (admission.ts), response cache (cache-tee.ts), streaming exchange (exchange.ts,
// timeouts via undici's headersTimeout/bodyTimeout) — around one keep-alive undici Pool.
// `handle(req, res)` works on raw Node objects so the gateway can route the prefix before Fastify.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { HeadroomError } from '../errors.js';
import type { Cache } from '../cache/types.js';
import type { PressureSource } from '../monitor/types.js';
import { createAdmission, type AdmissionStats, type HeadroomAdmission, type Release } from '../admission/index.js';
import { createResponseCache, type ResponseCache, type ResponseCacheStats } from './cache-tee.js';
import { Exchange, type ExchangeContext } from './exchange.js';
import { createGcAssist, DEFAULT_GC_ASSIST_BYTES } from './gc-assist.js';
import { createHeaderRules, type RequestHeaderInfo } from './headers.js';
import { createPathMapper } from './path.js';
import { sendError } from './respond.js';
import { ProxyCounters, type ErrorKind, type LatencyHistogram } from './stats.js';

export interface ProxyOptions {
  /** UPSTREAM_URL; its path is the base path requests cannot escape. */
  upstreamUrl: string | URL;
  /** UPSTREAM_TOKEN: sent as Authorization: Bearer …, never relayed back or logged. */
  upstreamToken?: string;
  /** PROXY_PREFIX. Default '/api'. */
  prefix?: string;
  /** PROXY_STRIP_PREFIX. Default true. */
  stripPrefix?: boolean;
  /** ENABLE_STREAMING_PROXY. Default true; false answers 404 explaining why. */
  enabled?: boolean;
  /**
   * Shared admission controller from createAdmission() (not closed by the proxy). Without one the
   * proxy makes its own from `limits`. A bare `Admission` (acquire() only) is not enough here: the
   * proxy's hot path takes slots synchronously and registers responses for shedding.
   */
  admission?: HeadroomAdmission;
  limits?: { maxConcurrent?: number; queueSize?: number; queueTimeout?: number; memoryThresholdPercent?: number; monitor?: PressureSource };
  /** STREAM_TIMEOUT, ms: headers must arrive within it (504) and the body may not idle longer. Default 30 000. */
  streamTimeout?: number;
  /** CLIENT_TIMEOUT, ms: longest a client may stall its upload (408) or its reading (connection closed) while holding a slot. Default 15 000; 0 = off. */
  clientTimeout?: number;
  /** Response cache (PROXY_CACHE_ENABLED); omitted = no caching. */
  cache?: Cache;
  /** MAX_BUFFER_SIZE: largest body teed into the cache. Default 10 MiB. */
  maxBufferSize?: number;
  /** PROXY_CACHE_AUTHORIZED. Default false. */
  cacheAuthorized?: boolean;
  /** Cache writes are skipped while this reports anything but healthy. */
  monitor?: PressureSource;
  /** Keep client X-Forwarded-Proto/-Host (behind a trusted load balancer). Default false. */
  trustForwarded?: boolean;
  /** Upstream keep-alive connections. Default: the admission limit. */
  connections?: number;
  /** PROXY_GC_ASSIST: a young-generation GC after every this many relayed response bytes (gc-assist.ts). Default 8 MiB; 0 = off. */
  gcAssistBytes?: number;
  /** How long close() waits for in-flight requests before destroying them, ms. Default 5 000. */
  closeTimeout?: number;
  logger?: Logger;
}

export interface ProxyStats {
  enabled: boolean;
  prefix: string;
  inFlight: number;
  queued: number;
  requests: number;
  rejected: AdmissionStats['rejected'];
  shed: number;
  breakerOpen: boolean;
  bytes: { in: number; out: number };
  latencyMs: { p50: number; p90: number; p99: number; max: number; samples: number };
  /** Upstream time to response headers of every request since start (headroom_proxy_upstream_latency_seconds). */
  latencyHistogram: LatencyHistogram;
  errors: Record<ErrorKind, number>;
  cache: ResponseCacheStats | null;
  /** Young-generation GCs run by the GC assist (PROXY_GC_ASSIST). */
  gcAssists: number;
  admission: AdmissionStats;
}

export interface Proxy {
  readonly prefix: string;
  readonly enabled: boolean;
  /** True when the URL is under the prefix. */
  matches(url: string): boolean;
  /** Stops taking new requests (503 HEADROOM_DRAINING, Connection: close); in-flight ones finish. */
  drain(): void;
  /** Proxies one request on raw Node objects; never throws, always answers or destroys. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  stats(): ProxyStats;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function createProxy(options: ProxyOptions): Proxy {
  const upstream = new URL(options.upstreamUrl);
  const prefix = options.prefix ?? '/api';
  const enabled = options.enabled ?? true;
  const streamTimeout = options.streamTimeout ?? 30_000;
  const ownAdmission = !options.admission;
  if (options.admission && typeof options.admission.tryAcquire !== 'function') {
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'createProxy: admission must be a controller from createAdmission() (an object with only acquire() cannot take slots synchronously or shed responses)');
  }
  const admission: HeadroomAdmission =
    options.admission ??
    createAdmission({
      maxConcurrent: options.limits?.maxConcurrent ?? 20,
      queueSize: options.limits?.queueSize ?? 100,
      queueTimeout: options.limits?.queueTimeout ?? 5_000,
      memoryThresholdPercent: options.limits?.memoryThresholdPercent ?? 80,
      monitor: options.limits?.monitor,
    });
  const monitor = options.monitor ?? options.limits?.monitor;
  const pool = new Pool(upstream.origin, {
    connections: options.connections ?? admission.stats().maxConcurrent,
    pipelining: 1,
    connect: { timeout: Math.min(streamTimeout, 10_000) },
  });
  const mapper = createPathMapper(prefix, options.stripPrefix ?? true, upstream.pathname);
  const counters = new ProxyCounters();
  const responseCache: ResponseCache | undefined = options.cache
    ? createResponseCache({
        cache: options.cache,
        maxBufferSize: options.maxBufferSize ?? 10 * 1024 * 1024,
        cacheAuthorized: options.cacheAuthorized ?? false,
        canWrite: () => !admission.breakerOpen() && (monitor ? monitor.status() === 'healthy' : true),
      })
    : undefined;
  const ctx: ExchangeContext = {
    counters,
    rules: createHeaderRules({ upstreamToken: options.upstreamToken, trustForwarded: options.trustForwarded }),
    responseCache,
    streamTimeout,
    clientTimeout: options.clientTimeout ?? 15_000,
    logger: options.logger,
    tracker: admission,
    gcAssist: createGcAssist(options.gcAssistBytes ?? DEFAULT_GC_ASSIST_BYTES),
  };
  const disabledError = new HeadroomError('HEADROOM_NOT_FOUND', `the streaming proxy at ${prefix} is turned off (ENABLE_STREAMING_PROXY=false)`);
  const pathError = new HeadroomError('HEADROOM_PATH_REJECTED', 'path would escape the upstream base path (.., encoded dots, // or backslashes)');
  const drainingError = new HeadroomError('HEADROOM_DRAINING', 'the gateway is shutting down; retry on another instance', { headers: { 'retry-after': '1' } });
  let draining = false;
  let closing: Promise<void> | undefined;

  function dispatch(req: IncomingMessage, res: ServerResponse, release: Release, path: string, info: RequestHeaderInfo, cacheKey: string | undefined): void {
    const ex = new Exchange(ctx, {
      req,
      res,
      release,
      cacheKey: req.method === 'GET' ? cacheKey : undefined,
      hasAuthorization: info.hasAuthorization,
      cacheControl: info.cacheControl,
    });
    // undici reports every failure, a refused dispatch included, through the handler.
    ex.send(pool, {
      path,
      method: req.method as Dispatcher.HttpMethod,
      headers: info.headers,
      body: info.hasBody ? req : null,
      headersTimeout: streamTimeout,
      bodyTimeout: streamTimeout,
    });
  }

  function admit(req: IncomingMessage, res: ServerResponse, path: string, info: RequestHeaderInfo, cacheKey: string | undefined): void {
    const r = admission.tryAcquire();
    if (typeof r === 'function') return dispatch(req, res, r, path, info, cacheKey);
    if (r) return sendError(res, r, info.hasBody);
    // Queued (callback form: no promise or AbortSignal); leaves the queue if the client goes away,
    // so a client that is gone never reaches dispatch().
    const onClose = (): void => {
      cancel();
      counters.errors.clientAbort++;
    };
    const cancel = admission.enqueue(
      (release) => {
        res.off('close', onClose);
        dispatch(req, res, release, path, info, cacheKey);
      },
      (err) => {
        res.off('close', onClose);
        sendError(res, err, info.hasBody);
      },
    );
    res.once('close', onClose);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    counters.requests++;
    if (!enabled) {
      counters.disabled++;
      return sendError(res, disabledError, requestHasBody(req));
    }
    if (draining) return sendError(res, drainingError, true);
    const path = mapper.map(req.url ?? '/');
    if (path === null) {
      counters.errors.pathRejected++;
      return sendError(res, pathError, requestHasBody(req));
    }
    const info: RequestHeaderInfo = {
      headers: [],
      hostProblem: undefined,
      origin: '',
      hasAuthorization: false,
      hasBody: false,
      ifNoneMatch: undefined,
      cacheControl: undefined,
    };
    ctx.rules.request(req, info);
    if (info.hostProblem) {
      counters.errors.badRequest++;
      return sendError(res, new HeadroomError('HEADROOM_BAD_REQUEST', `${info.hostProblem} (RFC 9112 §3.2)`), info.hasBody);
    }
    const method = req.method;
    if (!responseCache || (method !== 'GET' && method !== 'HEAD')) return admit(req, res, path, info, undefined);
    // The forwarded origin is part of the key: a page built for one Host is never served for another.
    const key = `proxy:${info.origin}${path}`;
    // Bypassed or known uncacheable: no lookup, and no promise on this hot path.
    if (responseCache.skip(key, info.cacheControl) !== undefined) return admit(req, res, path, info, key);
    responseCache.lookup(key, req, info.cacheControl).then(
      (hit) => {
        if (res.destroyed) {
          counters.errors.clientAbort++; // gone during the lookup: no upstream request for it
          return;
        }
        if (hit) responseCache.serve(hit, req, res, info.ifNoneMatch);
        else admit(req, res, path, info, key);
      },
      () => admit(req, res, path, info, key),
    );
  }

  // Every call gets the one close in progress, so no caller goes on while requests still run.
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      draining = true;
      if (ownAdmission) await admission.close();
      // In-flight requests get closeTimeout to finish; then the pool is destroyed, which fails
      // them (pool.close() itself may never settle once requests wait in its queue).
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => resolve(pool.destroy()), options.closeTimeout ?? 5_000);
        timer.unref();
      });
      try {
        await Promise.race([pool.close(), forced]);
      } finally {
        clearTimeout(timer);
      }
    })());

  return {
    prefix,
    enabled,
    matches: (url) => mapper.matches(url),
    drain: () => {
      draining = true;
    },
    handle,
    stats: (): ProxyStats => {
      const a = admission.stats();
      return {
        enabled,
        prefix,
        inFlight: a.inFlight,
        queued: a.queued,
        requests: counters.requests,
        rejected: a.rejected,
        shed: a.shed,
        breakerOpen: a.breakerOpen,
        bytes: { in: counters.bytesIn, out: counters.bytesOut },
        latencyMs: counters.percentiles(),
        latencyHistogram: counters.histogram(),
        errors: { ...counters.errors },
        cache: responseCache ? responseCache.stats() : null,
        gcAssists: ctx.gcAssist?.runs ?? 0,
        admission: a,
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function requestHasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return len !== undefined ? len !== '0' : req.headers['transfer-encoding'] !== undefined;
}
