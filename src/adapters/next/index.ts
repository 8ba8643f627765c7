// headroom-memory/next: headroom inside a Next.js app (App Router, Node.js runtime). Route-handler
// factories translate the toolkit's framework-neutral answers (src/toolkit) into Web Responses;
// the proxy streams through proxy.fetch (src/proxy/web.ts). Nothing starts at import time (a
// build evaluates route modules): the process's one Headroom is made by the first request or by
// register() in instrumentation.ts, and kept on a globalThis symbol so route bundles that carry
// their own copy of this module, and hot reloads, all find the same one.
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { createCache } from '../../cache/index.js';
import { createImageService } from '../../image/service.js';
import type { ImageService, ImageServiceOptions } from '../../image/types.js';
import { createProxy, resolveProxyOptions, type Proxy, type ProxyOptions } from '../../proxy/proxy.js';
import { proxyLibrarySpecs, proxySpecs } from '../../proxy/options.js';
import { imageLibrarySpecs, resolveImageOptions } from '../../image/options.js';
import type { FetchInfo } from '../../proxy/web.js';
import { HeadroomError } from '../../errors.js';
import { kindOf, nestedOptions, resolveOne, resolveOptions, routePath, type OptionSpec } from '../../options/spec.js';
import {
  createHeadroom,
  headroomSpecs,
  PROXY_SUPPLIED,
  resolveHeadroomOptions,
  type Headroom,
  type HeadroomOptions,
} from '../../toolkit/headroom.js';
import { errorResponse, toWebResponse, type PlainResponse } from '../../toolkit/response.js';
import { queryObject } from '../../toolkit/node-image.js';
import { whenSent } from './body.js';
import { serverRequests, type ServerRequests } from './server-requests.js';
import { edgeResponse, isNodeRuntime, routeHandlers, warnEdgeOnce, type RouteHandler, type RouteHandlers } from './runtime.js';

export { createImageLoader, type ImageLoaderOptions, type ImageLoaderProps } from './image-loader.js';
export { isNodeRuntime } from './runtime.js';
export type { Headroom, HeadroomOptions } from '../../toolkit/headroom.js';

export type { RouteHandler, RouteHandlers };

export type ProxyRouteHandlers = RouteHandlers<'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'>;

/**
 * The app's own check, run before the route does anything else (after shedding): a Response it
 * returns is sent as it is (e.g. a 401), undefined lets the request through. For the proxy route
 * this is the place for auth rather than middleware: Next.js reads the whole body of every
 * non-GET request a middleware (proxy.ts) matches into memory first, and cuts it at
 * experimental.proxyClientMaxBodySize (10 MB) — a chunked upload then reaches the upstream short.
 */
export type Authorize = (request: Request) => Response | undefined | Promise<Response | undefined>;

/** createProxyRoute's options: the proxy's (upstreamUrl required) plus the shared headroom's. */
export type ProxyRouteOptions = NonNullable<HeadroomOptions['proxy']> & {
  /** Options of the process's Headroom, used if this route is the first to need it (pass the same object everywhere). */
  headroom?: HeadroomOptions;
  /** The app's auth check for the proxied requests (see Authorize). */
  authorize?: Authorize;
};

export interface ImageRouteOptions {
  /** The image service's options (allowedOrigins required). */
  image: NonNullable<HeadroomOptions['image']>;
  headroom?: HeadroomOptions;
  /** The app's auth check for image requests (see Authorize; middleware works as well, images are GETs). */
  authorize?: Authorize;
}

/** HEADROOM_CONFIG_INVALID for a factory's argument, thrown when the route module loads (next build shows it). */
const invalid = (message: string): HeadroomError => new HeadroomError('HEADROOM_CONFIG_INVALID', message);

/**
 * A route's Headroom options checked when its module loads (so next build shows the mistake, not
 * every request's 500), creating nothing; `key` is where they sit in what the factory got ('' for
 * the factory's own argument).
 */
function checkHeadroomOptions(factory: string, given: unknown, parent: unknown, key: string): void {
  if (given !== undefined) resolveHeadroomOptions(nestedOptions(given as HeadroomOptions, factory, parent, key));
}

/** The factory's options object itself: an object (or undefined when `optional`). */
function checkObject(factory: string, options: unknown, shape: string, optional: boolean): void {
  if (options === undefined && optional) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw invalid(`${factory}: options must be an object (${shape}); got ${kindOf(options)}`);
}

function checkAuthorize(factory: string, authorize: unknown): void {
  if (authorize !== undefined && typeof authorize !== 'function')
    throw invalid(
      `${factory}: authorize must be a function (request) => Response | undefined, run before the route; got ${kindOf(authorize)}`,
    );
}

const bodyConsumed = new HeadroomError(
  'HEADROOM_BODY_CONSUMED',
  'the request body was already read (request.json(), .text(), .formData(), a reader …), so it cannot be forwarded: pass the unread Request to the headroom proxy route, or read a request.clone()',
);

const SLOT = Symbol.for('headroom-memory.next');

interface Slot {
  headroom: Headroom;
  /** The options the Headroom was made with (a route checks its proxy options against them). */
  made: HeadroomOptions;
  /** Which server is Next.js's, and its requests in flight (server-requests.ts). */
  requests: ServerRequests;
  /** Parts made for routes whose options were not in the Headroom's (closed by closeHeadroom). */
  proxies: Map<string, Proxy>;
  /** Image services of routes whose options the Headroom's was not made with: one per distinct options. */
  images: { made: unknown; service: ImageService }[];
  closers: (() => Promise<void>)[];
}

type Global = typeof globalThis & { [SLOT]?: Slot };

/**
 * The process's Headroom: created by the first call with that call's options, returned by every
 * later one (their options are then ignored). Node.js runtime only.
 */
export function getHeadroom(options: HeadroomOptions = {}): Headroom {
  return slot(options).headroom;
}

/** The process's Slot; `by` (what the user called, for messages) makes it when there is none. */
function slot(options: HeadroomOptions = {}, by = 'headroom-memory/next'): Slot {
  const g = globalThis as Global;
  if (g[SLOT]) return g[SLOT];
  const headroom = createHeadroom(nestedOptions(options, by, options, ''));
  // From the next request on, the first headroom route to run learns which server is Next.js's.
  const requests = serverRequests(headroom);
  requests.learn();
  return (g[SLOT] = { headroom, made: options, requests, proxies: new Map(), images: [], closers: [async () => requests.close()] });
}

/**
 * False once closeHeadroom() has closed this Slot: a route's handlers then make (or find) the
 * process's new one on their next request rather than answering with closed parts.
 */
const isCurrent = (s: Slot): boolean => (globalThis as Global)[SLOT] === s;

/** Closes the process's Headroom and the parts made for routes (tests, custom servers). Idempotent. */
export async function closeHeadroom(): Promise<void> {
  const g = globalThis as Global;
  const s = g[SLOT];
  if (!s) return;
  delete g[SLOT];
  for (const close of s.closers.reverse()) await close().catch(() => undefined);
  await s.headroom.close();
}

/**
 * For instrumentation.ts: starts the process's Headroom (and its memory monitor) once, on the
 * Node.js runtime only; elsewhere it does nothing.
 *
 *   export async function register() { await registerHeadroom(config); }
 */
export async function registerHeadroom(options: HeadroomOptions = {}): Promise<Headroom | undefined> {
  const runtime = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NEXT_RUNTIME;
  if (!isNodeRuntime() || (runtime !== undefined && runtime !== 'nodejs')) return undefined;
  return getHeadroom(options);
}

/** instrumentation.ts's `register` with default options: `export { register } from 'headroom-memory/next'`. */
export const register = (): Promise<void> => registerHeadroom().then(() => undefined);

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * Counts a request in flight until its answer has been sent or the client went away, whichever
 * comes first; a handler still running for a client that left no longer counts. Returns what to do
 * with the handler's Response once it has one.
 *
 * Once Next.js's server is known (server-requests.ts) its requests are counted as they start, on
 * their Node.js response, and the Response goes out untouched; so is the request that teaches it
 * (counted with the server's other unanswered ones as it is learned). Otherwise (a direct call, a
 * request that started before the Headroom existed) the Response's body is wrapped to tell when it has been
 * read (whenSent) and request.signal tells when the client left (Next.js aborts it when the
 * connection closes before the answer is sent).
 */
function track(s: Slot, request: Request): Tracking {
  const { headroom: h, requests } = s;
  if (requests.counting) return untouched;
  if (requests.take(request)) return untouched;
  const end = inFlight(h, request.signal);
  return { send: (answer) => whenSent(answer, end), fail: end };
}

/** For headroom's own routes: they may teach which server is Next.js's too, and their path (or all below it) is left out of the count. */
function ownRoute(s: Slot, request: Request, path: string, below = false): void {
  s.requests.take(request);
  s.requests.own(path, below);
}

interface Tracking {
  /** The handler's answer, as it is to be returned to Next.js. */
  send(res: Response): Response;
  /** The handler threw. */
  fail(): void;
}

const untouched: Tracking = { send: (res) => res, fail: () => undefined };

/** Counts a request in flight until the returned function is called, or request.signal aborts. */
function inFlight(h: Headroom, signal: AbortSignal): () => void {
  const done = h.track();
  const end = (): void => {
    signal.removeEventListener('abort', end);
    done();
  };
  if (signal.aborted) end();
  else signal.addEventListener('abort', end, { once: true });
  return end;
}

/** h.shed(path) for this request; the path (only needed to check shedExempt while refusing) is parsed only then. */
function shed(h: Headroom, request: Request): PlainResponse | undefined {
  return h.wouldShed() ? h.shed(new URL(request.url).pathname) : undefined;
}

/**
 * Wraps one of the app's own route handlers: 503 + Retry-After while memory is critical or the app
 * drains, and counted in flight (for graceful shutdown and metrics) until its answer has been sent
 * or the client went away (see track()).
 */
export function withHeadroom(handler: RouteHandler, options?: HeadroomOptions): RouteHandler {
  if (typeof handler !== 'function')
    throw invalid(
      `withHeadroom(handler): handler must be your route handler, a function (request, context) => Response; got ${kindOf(handler)}`,
    );
  checkObject(WITH_HEADROOM, options, "createHeadroom's options", true);
  checkHeadroomOptions(WITH_HEADROOM, options, options, '');
  const call = (request: Request, context: unknown): Promise<Response> => {
    const answer: Response | Promise<Response> = handler(request, context);
    return answer instanceof Promise ? answer : Promise.resolve(answer);
  };
  const tracked = async (t: Tracking, request: Request, context: unknown): Promise<Response> => {
    try {
      return t.send(await handler(request, context));
    } catch (err) {
      t.fail();
      throw err;
    }
  };
  // Not an async function itself: a request counted on its server (the usual case) gets the
  // handler's own promise, without one more async frame, promise and await around it (each runs
  // async hooks and copies every AsyncLocalStorage store Next.js keeps).
  return (request, context) => {
    try {
      if (!isNodeRuntime()) {
        warnEdgeOnce();
        return call(request, context);
      }
      const s = slot(options);
      const refused = shed(s.headroom, request);
      if (refused) return Promise.resolve(toWebResponse(refused, request.method));
      const t = track(s, request);
      return t === untouched ? call(request, context) : tracked(t, request, context);
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

const PROXY_ROUTE = 'createProxyRoute() from headroom-memory/next';
const WITH_HEADROOM = 'withHeadroom() from headroom-memory/next';
const HEALTH_ROUTE = 'createHealthRoute() from headroom-memory/next';
const METRICS_ROUTE = 'createMetricsRoute() from headroom-memory/next';

/**
 * Handlers for `app/api/[...path]/route.ts`: every method streamed to the upstream through
 * proxy.fetch, after shedding.
 *
 *   export const runtime = 'nodejs';
 *   export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = createProxyRoute({ upstreamUrl: process.env.UPSTREAM_URL!, prefix: '/api' });
 */
export function createProxyRoute(options: ProxyRouteOptions): ProxyRouteHandlers {
  checkObject(PROXY_ROUTE, options, '{ upstreamUrl, prefix?, …, headroom?, authorize? }', false);
  const { headroom: headroomOptions, authorize, ...proxyOptions } = options;
  checkAuthorize(PROXY_ROUTE, authorize);
  checkHeadroomOptions(PROXY_ROUTE, headroomOptions, options, 'headroom');
  {
    const { cache, ...checked } = proxyOptions;
    if (cache !== undefined && typeof cache !== 'boolean')
      throw invalid(`${PROXY_ROUTE}: cache=${kindOf(cache)}: must be true or false (whether the route's proxy uses the Headroom's cache)`);
    // The Headroom supplies these to the route's proxy: given here, they would be ignored.
    const supplied = PROXY_SUPPLIED.filter((k) => (checked as Record<string, unknown>)[k] !== undefined);
    if (supplied.length > 0)
      throw invalid(
        `${PROXY_ROUTE}: ${supplied.join(' and ')} ${supplied.length > 1 ? 'are' : 'is'} not taken by the route: the Headroom supplies them (pass headroom: { limits, monitor } instead)`,
      );
    // Not required yet: a build-once image may set the upstream from the environment at run time.
    resolveProxyOptions(nestedOptions(checked as ProxyOptions, PROXY_ROUTE, options, ''), { requireUpstream: false });
  }
  let parts: { s: Slot; proxy: Proxy } | undefined;
  const init = (): { s: Slot; proxy: Proxy } => {
    if (parts && isCurrent(parts.s)) return parts;
    const s = slot({ ...headroomOptions, proxy: proxyOptions }, PROXY_ROUTE);
    const h = s.headroom;
    const prefix = proxyOptions.prefix ?? proxySpecs.prefix.default;
    let proxy = h.proxy && h.proxy.prefix === prefix ? h.proxy : s.proxies.get(prefix);
    if (proxy && proxy === h.proxy) {
      // The route would run on the Headroom's proxy: options it gives that the Headroom was made
      // without (dropHeaders, say) must not be dropped silently (the credentials would go upstream).
      const differ = differingOptions(proxyOptions, s.made.proxy ?? {});
      if (differ.length > 0) throw conflictingProxy(prefix, differ);
    }
    // A stalled reader is cut at the clientReadTimeout of the proxy that serves the route: the
    // Headroom's (its options, which this route's agree with) or the one made from this route's options.
    s.requests.watchStalls(prefix, clientReadTimeoutOf(proxy && proxy === h.proxy ? (s.made.proxy ?? {}) : proxyOptions));
    if (!proxy) {
      // The Headroom was made without this route's proxy (by register() or another route): its
      // upstream limits and its response cache are the Headroom's, as createHeadroom would wire them.
      const { cache: cacheResponses = true, ...rest } = proxyOptions;
      const cache = cacheResponses && s.made.cache ? h.cache : undefined;
      const limits = { ...s.made.limits, monitor: h.monitor };
      const own = createProxy(nestedOptions({ ...rest, limits, monitor: h.monitor, cache }, PROXY_ROUTE, options, ''));
      s.proxies.set(prefix, own);
      s.closers.push(() => own.close());
      proxy = own;
    }
    return (parts = { s, proxy });
  };
  const handler: RouteHandler = async (request) => {
    if (!isNodeRuntime()) return edgeResponse();
    const { s, proxy } = init();
    const refused = shed(s.headroom, request);
    if (refused) return toWebResponse(refused, request.method);
    const t = track(s, request);
    try {
      const denied = authorize && (await authorize(request));
      if (denied) return t.send(denied);
      // The body was read (or is held by a reader) before the proxy saw it: forwarding it would send it empty.
      if (request.bodyUsed || request.body?.locked) return t.send(toWebResponse(errorResponse(bodyConsumed), request.method));
      return t.send(await proxy.fetch(request, fetchInfoOf(request)));
    } catch (err) {
      t.fail();
      throw err;
    }
  };
  return routeHandlers(handler, ALL_METHODS);
}

const IDENTITY: FetchInfo = { identityEncoding: true };
const HTTP_CONNECTION: FetchInfo = { protocol: 'http', identityEncoding: true };

/**
 * What the proxy is told of a request Next.js hands a route. Next.js drops Content-Encoding from a
 * route handler's Response (and compresses on its own), so the upstream is asked for an unencoded
 * body: a gzip body passed through would reach the client undeclared. And Next.js makes the request
 * URL https when the client's X-Forwarded-Proto says so (or the socket is TLS): with that header
 * present the URL says nothing about the connection, so the proxy is told http (what `next start`
 * serves) unless it trusts forwarded headers anyway.
 */
const fetchInfoOf = (request: Request): FetchInfo => (request.headers.has('x-forwarded-proto') ? HTTP_CONNECTION : IDENTITY);

const proxyOptionSpecs = { ...proxySpecs, ...proxyLibrarySpecs };

/** The image route's clientReadTimeout, ms (a duration string or the default resolved). */
const imageReadTimeoutOf = (o: { clientReadTimeout?: number | string } | undefined): number =>
  resolveOne(IMAGE_ROUTE, 'clientReadTimeout', imageLibrarySpecs.clientReadTimeout, o?.clientReadTimeout);

/** The route's proxy's clientReadTimeout, ms (a duration string or the default resolved). */
const clientReadTimeoutOf = (o: { clientReadTimeout?: number | string }): number =>
  resolveOne(PROXY_ROUTE, 'clientReadTimeout', proxySpecs.clientReadTimeout, o.clientReadTimeout);

type RouteProxyOptions = NonNullable<HeadroomOptions['proxy']>;

/** The options `route` gives (not undefined) whose values, defaults applied, differ from those in `made`. */
function differingOptions(route: RouteProxyOptions, made: Partial<RouteProxyOptions>): string[] {
  const given = route as Record<string, unknown>;
  // `cache` is the Headroom's switch (a boolean) here, not createProxy's cache object.
  const { cache: routeCache, ...routeRest } = route;
  const { cache: madeCache, ...madeRest } = made;
  const a = { ...resolveOptions(PROXY_ROUTE, proxyOptionSpecs, routeRest), cache: routeCache ?? false } as Record<string, unknown>;
  const b = { ...resolveOptions(PROXY_ROUTE, proxyOptionSpecs, madeRest), cache: madeCache ?? false } as Record<string, unknown>;
  // One upstream however it is written (a URL object, a trailing slash); header names in any case and order.
  const href = (u: unknown): unknown => (typeof u === 'string' && URL.canParse(u) ? new URL(u).href : u);
  const headerSet = (v: unknown): unknown => (Array.isArray(v) ? [...new Set(v.map((h) => String(h).toLowerCase()))].sort() : v);
  const norm = (k: string, v: unknown): unknown => (k === 'dropHeaders' ? headerSet(v) : href(v));
  return Object.keys(given).filter((k) => given[k] !== undefined && !isDeepStrictEqual(norm(k, a[k]), norm(k, b[k])));
}

const conflictingProxy = (prefix: string, keys: string[]): HeadroomError =>
  invalid(
    `${PROXY_ROUTE}: the process's Headroom (registerHeadroom() or getHeadroom()) already has a proxy at ${prefix}, made without this route's ${keys.join(', ')}: ` +
      'pass the same proxy options to both (one shared config object), or give this route its own prefix',
  );

const BODY_HWM = new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 });

/** A Node Readable as a Web stream holding at most ~64 KiB for a slow reader (Readable.toWeb's queue has no byte bound). */
function webStream(r: Readable): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        r.on('data', (chunk: Buffer) => {
          c.enqueue(chunk);
          if ((c.desiredSize ?? 0) <= 0) r.pause();
        });
        r.once('end', () => c.close());
        r.once('error', (err) => c.error(err));
      },
      pull() {
        r.resume();
      },
      cancel() {
        r.destroy();
      },
    },
    BODY_HWM,
  );
}

const IMAGE_ROUTE = 'createImageRoute() from headroom-memory/next';

/**
 * Handlers for `app/image/route.ts`: GET/HEAD /image?url=&w=&h=&q=&format= through headroom's
 * image service (origin policy, bounded fetch, cached variants), after shedding.
 */
export function createImageRoute(options: ImageRouteOptions): RouteHandlers<'GET' | 'HEAD'> {
  checkObject(IMAGE_ROUTE, options, '{ image: { allowedOrigins, … }, headroom?, authorize? }', false);
  checkAuthorize(IMAGE_ROUTE, options.authorize);
  checkHeadroomOptions(IMAGE_ROUTE, options.headroom, options, 'headroom');
  if (typeof options.image !== 'object' || options.image === null || Array.isArray(options.image))
    throw invalid(`${IMAGE_ROUTE}: image must be the image service's options ({ allowedOrigins, … }); got ${kindOf(options.image)}`);
  // The cache and the monitor are the route's to supply (from the process's Headroom). Origins
  // read from the environment may be set only at run time: required at the first request.
  resolveImageOptions(nestedOptions(options.image as ImageServiceOptions, IMAGE_ROUTE, options, 'image'), ['cache', 'monitor']);
  let image: ImageService | undefined;
  let s: Slot | undefined;
  const init = (): { s: Slot; image: ImageService } => {
    if (image && s && isCurrent(s)) return { s, image };
    // Without it every image would be refused 403, as if the client had asked for a foreign origin.
    if ((options.image as { allowedOrigins?: unknown }).allowedOrigins === undefined)
      throw invalid(
        `${IMAGE_ROUTE}: image.allowedOrigins is required: the origins images may be fetched from (e.g. ['https://img.example.com']); it was undefined when the route first ran`,
      );
    s = slot({ ...options.headroom, image: options.image }, IMAGE_ROUTE);
    const h = s.headroom;
    // The Headroom's image service only when it was made with this route's options: a route never
    // runs on another's origin policy (it would fetch what it never allowed, and refuse its own).
    if (h.image && isDeepStrictEqual(s.made.image, options.image)) return { s, image: (image = h.image) };
    const made = s.images.find((m) => isDeepStrictEqual(m.made, options.image));
    if (made) return { s, image: (image = made.service) };
    const cache = createCache({ monitor: h.monitor });
    const own = createImageService(
      nestedOptions({ ...(options.image as ImageServiceOptions), cache, monitor: h.monitor }, IMAGE_ROUTE, options, 'image'),
    );
    s.images.push({ made: options.image, service: own });
    s.closers.push(
      () => cache.close(),
      () => own.close(),
    );
    return { s, image: (image = own) };
  };
  let watchedFor: Slot | undefined;
  const handler: RouteHandler = async (request) => {
    if (!isNodeRuntime()) return edgeResponse();
    const parts = init();
    const url = new URL(request.url);
    if (watchedFor !== parts.s) {
      // A client that stops reading a passed-through original is cut (stalls.ts) at this route's path.
      parts.s.requests.watchStalls(url.pathname, imageReadTimeoutOf(options.image));
      watchedFor = parts.s;
    }
    const refused = parts.s.headroom.shed(url.pathname);
    if (refused) return toWebResponse(refused, request.method);
    const t = track(parts.s, request);
    try {
      const denied = options.authorize && (await options.authorize(request));
      if (denied) return t.send(denied);
      const res = await parts.image.handle({
        // Repeated keys stay repeated (and are refused), as on the other adapters: the last one must not
        // win where an authorize hook read the first.
        query: queryObject(request.url),
        accept: request.headers.get('accept') ?? undefined,
        ifNoneMatch: request.headers.get('if-none-match') ?? undefined,
        signal: request.signal,
      });
      let body: Uint8Array | ReadableStream<Uint8Array> | null = null;
      if (request.method !== 'HEAD' && res.status !== 304 && res.body !== undefined)
        body = Buffer.isBuffer(res.body) ? new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.length) : webStream(res.body);
      else if (res.body instanceof Readable) res.body.destroy();
      return t.send(new Response(body, { status: res.status, headers: res.headers }));
    } catch (err) {
      t.fail();
      return toWebResponse(errorResponse(err), request.method);
    }
  };
  return routeHandlers(handler, ['GET', 'HEAD']);
}

type Probe = 'health' | 'live' | 'ready';

/**
 * GET/HEAD handlers for the health endpoints: `app/health/route.ts` (kind 'health', the full
 * report), `app/health/live/route.ts` ('live'), `app/health/ready/route.ts` ('ready': 503 while
 * critical or draining). Never shed.
 */
export function createHealthRoute(kind: Probe = 'health', options?: HeadroomOptions): RouteHandlers<'GET' | 'HEAD'> {
  if (kind !== 'health' && kind !== 'live' && kind !== 'ready')
    throw invalid(`createHealthRoute(kind): kind=${JSON.stringify(kind)}: must be 'health' (the full report), 'live' or 'ready'`);
  checkObject(HEALTH_ROUTE, options, "createHeadroom's options", true);
  checkHeadroomOptions(HEALTH_ROUTE, options, options, '');
  const handler: RouteHandler = async (request) => {
    if (!isNodeRuntime()) return edgeResponse();
    const s = slot(options);
    ownRoute(s, request, new URL(request.url).pathname);
    const h = s.headroom;
    return toWebResponse(kind === 'live' ? h.live() : kind === 'ready' ? h.ready() : h.health(), request.method);
  };
  return routeHandlers(handler, ['GET', 'HEAD']);
}

/**
 * GET handler for `app/metrics/route.ts`: Prometheus text (Node.js process metrics plus
 * headroom_*); with metricsToken only for a scraper sending it as a bearer token.
 */
export function createMetricsRoute(options?: HeadroomOptions): RouteHandlers<'GET'> {
  checkObject(METRICS_ROUTE, options, "createHeadroom's options", true);
  checkHeadroomOptions(METRICS_ROUTE, options, options, '');
  const handler: RouteHandler = async (request) => {
    if (!isNodeRuntime()) return edgeResponse();
    const s = slot(options);
    refuseConflicting(METRICS_ROUTE, ['metricsToken'], options ?? {}, s.made);
    ownRoute(s, request, new URL(request.url).pathname);
    return toWebResponse(await s.headroom.metrics(request.headers.get('authorization') ?? undefined));
  };
  return routeHandlers(handler, ['GET']);
}

/**
 * The admin rate limit's key: X-Forwarded-For's first address (Next.js sets the header to the peer's
 * address when the client sent none). Anything but an IP address is one shared key, so a client
 * cannot make up a new key per request, nor keep long strings in the limiter's table.
 */
function forwardedClient(request: Request): string {
  const first = request.headers.get('x-forwarded-for')?.split(',', 1)[0]!.trim();
  return first !== undefined && isIP(first) !== 0 ? first : 'unknown';
}

const ADMIN_ROUTE = 'createAdminRoute() from headroom-memory/next';
/** The options of the admin API, which the route runs on the process's Headroom. */
const ADMIN_OPTIONS = ['adminToken', 'adminRateLimit'] as const;

/**
 * Refuses a route's `keys` that differ from those the process's Headroom was made with (defaults
 * applied on both sides): the route runs on that Headroom, so a token given only here would be
 * ignored — an admin 403 telling the operator to pass the token they did pass, or an open /metrics.
 */
function refuseConflicting(
  route: string,
  keys: readonly (keyof typeof headroomSpecs)[],
  given: HeadroomOptions,
  made: HeadroomOptions,
): void {
  const value = (k: keyof typeof headroomSpecs, o: HeadroomOptions): unknown =>
    resolveOne<unknown>(route, k, headroomSpecs[k] as OptionSpec<unknown>, o[k as keyof HeadroomOptions]);
  const differ = keys.filter((k) => given[k as keyof HeadroomOptions] !== undefined && !isDeepStrictEqual(value(k, given), value(k, made)));
  if (differ.length === 0) return;
  throw invalid(
    `${route}: the process's Headroom was made ${differ.map((k) => (made[k as keyof HeadroomOptions] === undefined ? `without this ${k}` : `with another ${k}`)).join(' and ')} ` +
      "(something made it first without them: registerHeadroom(), instrumentation's register, getHeadroom(), or a route given " +
      "no or other Headroom options, such as a createProxyRoute() without `headroom`; the first call's options are the ones used): " +
      'pass one shared config object to every export, e.g. registerHeadroom(config) in instrumentation.ts and ' +
      'createProxyRoute({ ...config.proxy, headroom: config })',
  );
}

/** The admin route's path prefix: the rule of every adapter's route paths. */
const adminMount = routePath({ doc: "The admin route's path prefix.", default: '/admin' });

/**
 * GET/POST handlers for `app/admin/[...path]/route.ts`: the admin API (memory-stats, proxy-stats,
 * cache-stats, image-stats, heap-snapshot, gc, cache clear/invalidate) behind the bearer token
 * (adminToken; without one it answers 403). `mount` is the route's path prefix (default '/admin').
 * The rate limit keys on the first X-Forwarded-For address (a Web Request carries no peer address),
 * only when it is an IP address (see forwardedClient).
 */
export function createAdminRoute(options?: HeadroomOptions & { mount?: string }): RouteHandlers<'GET' | 'POST'> {
  checkObject(ADMIN_ROUTE, options, "{ mount?, …createHeadroom's options }", true);
  const { mount = '/admin', ...headroomOptions } = options ?? {};
  checkHeadroomOptions(ADMIN_ROUTE, headroomOptions, options, '');
  if (adminMount.parse(mount) === undefined) throw invalid(`createAdminRoute: mount=${JSON.stringify(mount)}: ${adminMount.accepted}`);
  const handler: RouteHandler = async (request) => {
    if (!isNodeRuntime()) return edgeResponse();
    const url = new URL(request.url);
    const path = url.pathname.startsWith(mount) ? url.pathname.slice(mount.length) || '/' : url.pathname;
    const s = slot(headroomOptions, ADMIN_ROUTE);
    refuseConflicting(ADMIN_ROUTE, ADMIN_OPTIONS, headroomOptions, s.made);
    ownRoute(s, request, mount, true);
    const res = await s.headroom.admin({
      method: request.method,
      path,
      query: url.searchParams,
      authorization: request.headers.get('authorization') ?? undefined,
      client: forwardedClient(request),
      // Not passed on: Next.js would drop the Content-Encoding of a gzip answer (and compresses itself).
      acceptEncoding: undefined,
      ifNoneMatch: request.headers.get('if-none-match') ?? undefined,
    });
    return toWebResponse(res, request.method);
  };
  return routeHandlers(handler, ['GET', 'POST']);
}
export * from '../../shared-entry.js';
