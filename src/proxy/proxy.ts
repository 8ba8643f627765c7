// createProxy: composes the proxy's concerns — path rules (path.ts), header rules (headers.ts),
// admission (admission.ts), response cache (cache-tee.ts), streaming exchange (exchange.ts,
// timeouts via undici's headersTimeout/bodyTimeout) — around one keep-alive undici Pool (lazy-pool.ts).
// `handle(req, res)` works on raw Node objects so the gateway can route the prefix before Fastify.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { HeadroomError } from '../errors.js';
import type { Cache } from '../cache/types.js';
import type { PressureSource } from '../monitor/types.js';
import { createAdmission, type AdmissionOptions, type AdmissionStats, type HeadroomAdmission, type Release } from '../admission/index.js';
import { resolveAdmissionOptions } from '../admission/options.js';
import { nestedOptions, requireOption, resolveOptions } from '../options/spec.js';
import {
  createResponseCache,
  invalidatesStored,
  responseCacheKey,
  SKIP_OUTCOME,
  type ResponseCache,
  type ResponseCacheStats,
} from './cache-tee.js';
import { Exchange, type ExchangeContext } from './exchange.js';
import { createGcAssist, fullGc } from './gc-assist.js';
import { ProxyAbort } from './faults.js';
import {
  authorityProblem,
  createHeaderRules,
  droppedHeaderLines,
  hostFromTarget,
  newHeaderInfo,
  originForm,
  type RequestHeaderInfo,
} from './headers.js';
import { proxyLibrarySpecs, proxySpecs } from './options.js';
import { createLocationRewriter } from './location.js';
import { createPathMapper } from './path.js';
import { ALLOWED_METHODS, bodyConsumed, bodyConsumedError, declaresBody, sendError } from './respond.js';
import { ProxyCounters, type ErrorKind, type LatencyHistogram } from './stats.js';
import { createFetch, type FetchInfo } from './web.js';
import { createLazyPool } from './lazy-pool.js';
import { clientAddress, originalUrl } from './client.js';
import type { CacheOutcome } from '../cache/cache-status.js';
import type { ProxyNote } from './note.js';
import { currentLedger, type RequestLedger } from '../log/accounting.js';

/**
 * Defaults and bounds are the gateway's (docs/configuration.md, variable in brackets); the
 * library-only ones are in options.ts. Bad values throw HEADROOM_CONFIG_INVALID naming the option.
 */
export interface ProxyOptions {
  /** Absolute http(s) URL (UPSTREAM_URL); its path is the base path requests cannot escape. Required. */
  upstreamUrl: string | URL;
  /** Sent as Authorization: Bearer …, never relayed back or logged (UPSTREAM_TOKEN). */
  upstreamToken?: string;
  /** Path prefix routed to the upstream (PROXY_PREFIX). */
  prefix?: string;
  /** Remove the prefix before forwarding (PROXY_STRIP_PREFIX). */
  stripPrefix?: boolean;
  /**
   * Rewrite a response's Location that points into the upstream (its origin, or a path, under its
   * base path) to the path the client used, e.g. /x → /api/x (PROXY_REWRITE_LOCATION; default true).
   */
  rewriteLocation?: boolean;
  /** false answers 404 explaining why (ENABLE_STREAMING_PROXY). */
  enabled?: boolean;
  /**
   * Shared admission controller from createAdmission() (not closed by the proxy). Without one the
   * proxy makes its own from `limits`. A bare `Admission` (acquire() only) is not enough here: the
   * proxy's hot path takes slots synchronously and registers responses for shedding.
   */
  admission?: HeadroomAdmission;
  /** createAdmission's options for the proxy's own controller (ignored with `admission`). */
  limits?: AdmissionOptions;
  /** ms: headers must arrive within it (504) and the body may not idle longer (STREAM_TIMEOUT). */
  streamTimeout?: number;
  /** ms: longest a client may stall its upload while holding a slot, then 408 (CLIENT_TIMEOUT). */
  clientTimeout?: number;
  /** ms: longest a client may take none of the response while holding a slot, then its connection is closed (CLIENT_READ_TIMEOUT). */
  clientReadTimeout?: number;
  /** Bytes a second an upload must average over any clientTimeout while it holds a slot, else 408; 0 = only a stopped upload (CLIENT_MIN_RATE). */
  clientMinRate?: number;
  /** Response cache; omitted = no caching. */
  cache?: Cache;
  /** Largest body teed into the cache, bytes (MAX_BUFFER_SIZE). */
  maxBufferSize?: number;
  /** Also cache responses to requests carrying Authorization (PROXY_CACHE_AUTHORIZED). */
  cacheAuthorized?: boolean;
  /** Cache writes are skipped while this reports anything but healthy. Default: `limits.monitor`. */
  monitor?: PressureSource;
  /** Keep client X-Forwarded-Proto/-Host, behind a trusted load balancer (PROXY_TRUST_FORWARDED). */
  trustForwarded?: boolean;
  /** Request headers never passed upstream, any case, e.g. the app's own x-api-key (PROXY_DROP_HEADERS). */
  dropHeaders?: string[];
  /** Upstream keep-alive connections. Default: the admission limit. */
  connections?: number;
  /** A young-generation GC after every this many relayed response bytes, 0 = off (PROXY_GC_ASSIST; gc-assist.ts). */
  gcAssistBytes?: number;
  /** How long close() waits for in-flight requests before destroying them, ms. */
  closeTimeout?: number;
  /**
   * The client a request counts against for the admission's maxPerClient (asked only while that is
   * set). Default: `req.ip` (Express's, under its `trust proxy`), else the socket's address.
   */
  clientOf?: (req: IncomingMessage) => string;
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
  /** True when the admission holds each client to its maxPerClient: requests are then counted by clientOf (default req.ip). */
  readonly limitsClients: boolean;
  /** True when the URL is under the prefix. */
  matches(url: string): boolean;
  /** Stops taking new requests (503 HEADROOM_DRAINING, Connection: close); in-flight ones finish. */
  drain(): void;
  /**
   * Proxies one request on raw Node objects; never throws, always answers or destroys. `note`
   * (newProxyNote) carries a request id to forward and return, and is filled in with the cache
   * outcome, upstream time and upload bytes for the caller's access log. `url` is the URL to route
   * when it is not req.url (a framework cut or is to cut a mount path from it); req.url is left as
   * it is, so the app's own hooks and logs still see the path the client sent.
   */
  handle(req: IncomingMessage, res: ServerResponse, note?: ProxyNote, url?: string): void;
  /**
   * The same rules over Web streams (web.ts), for handlers that take a Request and return a
   * Response (Next.js route handlers). Never rejects: failures are JSON error responses.
   */
  fetch(request: Request, info?: FetchInfo): Promise<Response>;
  stats(): ProxyStats;
  /** Stops taking new requests; in-flight ones get closeTimeout to finish, then are ended as abortInFlight() ends them. */
  close(): Promise<void>;
  /**
   * Ends every request in flight now and stops taking new ones: one with no answer yet gets 503
   * HEADROOM_DRAINING (Retry-After, Connection: close), one mid-body has its connection cut, and
   * the upstream connections are destroyed. For a shutdown whose own time is up (close() does it
   * itself at closeTimeout); the proxy is then closed for good, and close() resolves at once.
   */
  abortInFlight(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const specs = { ...proxySpecs, ...proxyLibrarySpecs };

/**
 * createProxy's options checked and resolved, creating nothing (HEADROOM_CONFIG_INVALID naming
 * each bad option): also for a route factory that checks its options when its module loads, where
 * `requireUpstream: false` lets an upstreamUrl that is set only at run time (from the environment
 * of a build-once image) be missing yet.
 */
export function resolveProxyOptions(options: ProxyOptions, { requireUpstream = true } = {}) {
  const o = resolveOptions('createProxy', specs, options);
  const upstreamUrl =
    requireUpstream || o.upstreamUrl !== undefined
      ? requireOption('createProxy', 'upstreamUrl', proxySpecs.upstreamUrl, o.upstreamUrl, options)
      : '';
  const limits = o.admission ? undefined : nestedOptions(o.limits, 'createProxy', options, 'limits');
  if (limits) resolveAdmissionOptions(limits);
  return { o, upstreamUrl, limits };
}

export function createProxy(options: ProxyOptions): Proxy {
  // Checked before anything is created, so a bad option leaves nothing running.
  const { o, upstreamUrl, limits } = resolveProxyOptions(options);
  const upstream = new URL(upstreamUrl);
  const { prefix, enabled, streamTimeout } = o;
  const ownAdmission = !o.admission;
  const admission: HeadroomAdmission = o.admission ?? createAdmission(limits);
  const monitor = o.monitor ?? o.limits?.monitor;
  // Only while the admission limits clients one by one is the client worked out at all.
  const clientOf = admission.stats().maxPerClient > 0 ? (o.clientOf ?? clientAddress) : undefined;
  const pool = createLazyPool(upstream.origin, {
    connections: o.connections ?? admission.stats().maxConcurrent,
    pipelining: 1,
    connect: { timeout: Math.min(streamTimeout, 10_000) },
  });
  const mapper = createPathMapper(prefix, o.stripPrefix, upstream.pathname);
  const counters = new ProxyCounters();
  const responseCache: ResponseCache | undefined = o.cache
    ? createResponseCache({
        cache: o.cache,
        maxBufferSize: o.maxBufferSize,
        clientReadTimeout: o.clientReadTimeout,
        cacheAuthorized: o.cacheAuthorized,
        canWrite: () => !admission.breakerOpen() && (monitor ? monitor.status() === 'healthy' : true),
        collect: fullGc(o.gcAssistBytes),
      })
    : undefined;
  // Said once (info: an L1-only cache with the defaults, 10 MiB against 8 MiB, is no mistake).
  if (responseCache && responseCache.maxCopyBytes < o.maxBufferSize)
    o.logger?.info(
      { maxBufferSize: o.maxBufferSize, largestCached: responseCache.maxCopyBytes },
      'MAX_BUFFER_SIZE is above the largest value the cache gives back whole: larger bodies stream through uncached',
    );
  const ctx: ExchangeContext = {
    counters,
    rules: createHeaderRules({ upstreamToken: o.upstreamToken, trustForwarded: o.trustForwarded, dropHeaders: o.dropHeaders }),
    responseCache,
    streamTimeout,
    clientTimeout: o.clientTimeout,
    live: new Set(),
    logger: o.logger,
    tracker: admission,
    gcAssist: createGcAssist(o.gcAssistBytes),
    location: o.rewriteLocation ? createLocationRewriter(upstream, prefix, o.stripPrefix) : undefined,
  };
  // CLIENT_TIMEOUT and CLIENT_READ_TIMEOUT: four looks per (shorter) timeout at every exchange in
  // flight, so a client that makes no progress loses its slot after 1 to 1.25 timeouts. One timer
  // for the proxy, not one per request.
  const period = Math.min(o.clientTimeout, o.clientReadTimeout) / 4;
  const upload = Math.round(o.clientTimeout / period);
  const looks = { upload, download: Math.round(o.clientReadTimeout / period), uploadStride: Math.max(1, Math.round(upload / 4)) };
  // CLIENT_MIN_RATE: an upload must bring this much over the last looks of one CLIENT_TIMEOUT.
  const minUploadBytes = Math.ceil((o.clientMinRate * o.clientTimeout) / 1000);
  const tooSlow = (): ProxyAbort =>
    new ProxyAbort(
      'clientTimeout',
      `the request body came slower than ${o.clientMinRate} bytes a second over ${o.clientTimeout} ms (CLIENT_MIN_RATE, CLIENT_TIMEOUT)`,
    );
  const sweep = setInterval(() => {
    for (const ex of ctx.live) ex.checkClient(looks, minUploadBytes, tooSlow);
  }, period);
  sweep.unref();
  const disabledError = new HeadroomError(
    'HEADROOM_NOT_FOUND',
    `the streaming proxy at ${prefix} is turned off (ENABLE_STREAMING_PROXY=false)`,
  );
  const pathError = new HeadroomError(
    'HEADROOM_PATH_REJECTED',
    'path would escape the upstream base path (.., encoded dots, // or backslashes), holds a malformed percent-escape (such as %zz or overlong UTF-8), or a raw # (a request never carries a fragment)',
  );
  // A route or mount that hands the proxy URLs outside its prefix (a Next.js route folder other than
  // the prefix): a set-up mistake, said as such rather than as an escape.
  const outsideError = new HeadroomError(
    'HEADROOM_PATH_REJECTED',
    `path is not under the proxy's prefix ${prefix}: mount the proxy's route at ${prefix}, or set the proxy's prefix to where it is mounted`,
  );
  // TRACE asks the upstream to echo the request it received, in its body: the upstream token and the
  // X-Forwarded-* headers the proxy adds would reach the client, past the response header rules.
  // (proxy.fetch never sees one: a Web Request cannot carry TRACE.)
  const traceError = new HeadroomError(
    'HEADROOM_METHOD_NOT_ALLOWED',
    "TRACE is not forwarded: the upstream's echo of the request would show the client the headers the proxy adds (the upstream token among them)",
    { headers: { allow: ALLOWED_METHODS } },
  );
  const drainingError = new HeadroomError('HEADROOM_DRAINING', 'the gateway is shutting down; retry on another instance', {
    headers: { 'retry-after': '1' },
  });
  let draining = false;
  let closing: Promise<void> | undefined;
  let aborting: Promise<void> | undefined;

  function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    release: Release,
    path: string,
    info: RequestHeaderInfo,
    cacheKey: string | undefined,
    outcome: CacheOutcome | undefined,
    note: ProxyNote | undefined,
    ledger: RequestLedger | undefined,
  ): void {
    // Out of the admission queue after abortInFlight() (the aborted requests' slots freed it).
    if (aborting !== undefined) {
      release();
      return sendError(res, drainingError, true, note?.requestId);
    }
    // Its client is gone, unnoticed while it queued: a pipelined request's response gets no
    // 'close' (see Exchange's clientGone), so only its socket tells.
    if (req.socket?.destroyed === true) {
      release();
      counters.errors.clientAbort++;
      return;
    }
    const ex = new Exchange(ctx, {
      req,
      res,
      release,
      upstreamPath: path,
      cacheKey: req.method === 'GET' ? cacheKey : undefined,
      invalidates: cacheKey !== undefined && invalidatesStored(req.method) ? cacheKey : undefined,
      hasAuthorization: info.hasAuthorization,
      cacheControl: info.cacheControl,
      cacheOutcome: outcome,
      note,
      ledger,
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

  function admit(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    info: RequestHeaderInfo,
    cacheKey: string | undefined,
    outcome: CacheOutcome | undefined,
    note: ProxyNote | undefined,
  ): void {
    if (note) note.cache = outcome;
    const id = note?.requestId;
    // Taken here, in the request's context: a queued request is dispatched from another's release.
    const ledger = currentLedger();
    const client = clientOf?.(req);
    const r = admission.tryAcquire(client);
    if (typeof r === 'function') return dispatch(req, res, r, path, info, cacheKey, outcome, note, ledger);
    if (r) return sendError(res, r, info.hasBody, id);
    // Queued (callback form: no promise or AbortSignal); leaves the queue if the client goes away,
    // so a client that is gone never reaches dispatch().
    const onClose = (): void => {
      cancel();
      counters.errors.clientAbort++;
    };
    const cancel = admission.enqueue(
      (release) => {
        res.off('close', onClose);
        dispatch(req, res, release, path, info, cacheKey, outcome, note, ledger);
      },
      (err) => {
        res.off('close', onClose);
        sendError(res, err, info.hasBody, id);
      },
      client,
    );
    res.once('close', onClose);
  }

  function handle(req: IncomingMessage, res: ServerResponse, note?: ProxyNote, url = req.url ?? '/'): void {
    counters.requests++;
    const id = note?.requestId;
    if (!enabled) {
      counters.disabled++;
      return sendError(res, disabledError, declaresBody(req), id);
    }
    if (draining) return sendError(res, drainingError, true, id);
    if (req.method === 'TRACE') {
      counters.errors.badRequest++;
      return sendError(res, traceError, declaresBody(req), id);
    }
    const dropped = droppedHeaderLines(req);
    if (dropped) {
      counters.errors.badRequest++;
      return sendError(res, new HeadroomError('HEADROOM_HEADERS_TOO_LARGE', dropped), declaresBody(req), id);
    }
    // An absolute-form target (http://host/api/x): the Host it names must be the Host header's, and
    // its path is mapped as /api/x would be.
    const target = req.url;
    if (target !== undefined && target.charCodeAt(0) !== 47 /* / */) {
      const problem = authorityProblem(target, req.rawHeaders);
      if (problem) {
        counters.errors.badRequest++;
        return sendError(res, new HeadroomError('HEADROOM_BAD_REQUEST', `${problem} (RFC 9112 §3.2)`), declaresBody(req), id);
      }
      hostFromTarget(req, target);
    }
    if (url.charCodeAt(0) !== 47) url = originForm(url);
    const path = mapper.map(url);
    if (path === null) {
      counters.errors.pathRejected++;
      return sendError(res, mapper.under(url) ? pathError : outsideError, declaresBody(req), id);
    }
    const info = newHeaderInfo();
    ctx.rules.request(req, info, id);
    if (info.hostProblem) {
      counters.errors.badRequest++;
      return sendError(res, new HeadroomError('HEADROOM_BAD_REQUEST', `${info.hostProblem} (RFC 9112 §3.2)`), info.hasBody, id);
    }
    // A parser, or a hook listening to 'data', took the body: forwarded, it would arrive empty.
    if (info.hasBody && bodyConsumed(req)) return sendError(res, bodyConsumedError, !req.readableEnded, id);
    const method = req.method;
    if (!responseCache) return admit(req, res, path, info, undefined, undefined, note);
    // The forwarded origin is part of the key: a page built for one Host is never served for another.
    // So is the client's mount when it differs from the prefix (an Express mount at /v2): a stored
    // redirect's Location was rewritten to it.
    const clientUrl = originForm(originalUrl(req));
    const key = responseCacheKey(
      info.origin,
      path,
      ctx.location === undefined || clientUrl === url ? undefined : ctx.location.clientPrefixOf(clientUrl, path),
    );
    // Other methods are never answered from the cache; the key goes on for an unsafe one to invalidate.
    if (method !== 'GET' && method !== 'HEAD') return admit(req, res, path, info, key, 'method', note);
    // A GET with a body or a method override may be answered as another request: neither looked
    // up nor stored (its answer, stored, would be served to the plain GET: cache poisoning).
    if (info.hasBody || info.overridesMethod) return admit(req, res, path, info, undefined, 'request', note);
    // Bypassed or known uncacheable: no lookup, and no promise on this hot path.
    const skipped = responseCache.skip(key, info.cacheControl);
    if (skipped !== undefined) return admit(req, res, path, info, key, SKIP_OUTCOME[skipped], note);
    responseCache.lookup(key, req, info.cacheControl).then(
      (hit) => {
        if (res.destroyed) {
          counters.errors.clientAbort++; // gone during the lookup: no upstream request for it
          return;
        }
        if (hit) {
          if (note) note.cache = 'hit';
          responseCache.serve(hit, req, res, info.ifNoneMatch, id);
        } else admit(req, res, path, info, key, 'miss', note);
      },
      () => admit(req, res, path, info, key, 'miss', note),
    );
  }

  // Ends what is still in flight, at once: the draining abort reaches each exchange (one still
  // queued in the pool gets it when the pool's destroy fails it), so one with no answer yet gets
  // 503 HEADROOM_DRAINING and one mid-body has its connection cut.
  const abortInFlight = (): Promise<void> =>
    (aborting ??= (async () => {
      draining = true;
      const why = new ProxyAbort('draining');
      for (const ex of ctx.live) ex.abort(why);
      await pool.destroy();
    })());

  // Every call gets the one close in progress, so no caller goes on while requests still run.
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      draining = true;
      clearInterval(sweep);
      if (ownAdmission) await admission.close();
      // In-flight requests get closeTimeout to finish; then they are ended (pool.close() itself
      // may never settle once requests wait in its queue).
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => resolve(abortInFlight()), o.closeTimeout);
        timer.unref();
      });
      try {
        await Promise.race([aborting ?? pool.close(), forced]);
      } finally {
        clearTimeout(timer);
      }
    })());

  return {
    prefix,
    enabled,
    limitsClients: clientOf !== undefined,
    matches: (url) => mapper.matches(url),
    drain: () => {
      draining = true;
    },
    handle,
    fetch: createFetch({
      ctx,
      pool,
      mapper,
      admission,
      enabled,
      draining: () => draining,
      aborted: () => aborting !== undefined,
      errors: { disabled: disabledError, path: pathError, outside: outsideError, draining: drainingError },
    }),
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
    abortInFlight,
    close,
    [Symbol.asyncDispose]: close,
  };
}
