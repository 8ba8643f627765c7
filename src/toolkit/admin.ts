// The admin API as one framework-neutral dispatcher: rate limit (first, so token guessing is
// throttled too), bearer auth, then the operator endpoints of the parts that exist. The gateway
// and every adapter answer /admin/* with it.
import type { Cache } from '../cache/types.js';
import { HeadroomError } from '../errors.js';
import type { ImageService } from '../image/types.js';
import { formatBytes } from '../monitor/report.js';
import type { MemoryMonitor } from '../monitor/types.js';
import { v8Gc } from '../monitor/v8-gc.js';
import type { Proxy } from '../proxy/proxy.js';
import type { Dashboard } from '../observe/dashboard/index.js';
import { createAdminAuth } from './auth.js';
import { withoutTrailingSlashes } from './paths.js';
import { createRateLimiter, enforceRateLimit } from './rate-limit.js';
import { errorResponse, jsonResponse, type PlainResponse } from './response.js';

export interface AdminRequest {
  method: string;
  /** Path below the admin mount, e.g. "/memory-stats" (a query string is ignored). */
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  /** Client address for the rate limit. */
  client: string;
  /** For the dashboard's files: gzip when accepted, 304 when the ETag matches. */
  acceptEncoding?: string;
  ifNoneMatch?: string;
}

export interface AdminApiOptions {
  token: string | undefined;
  /** Requests per client per minute. */
  rateLimit: number;
  /** How the 403 says to turn the API on (an option name for library users). */
  howToEnable?: string;
  monitor: MemoryMonitor;
  cache?: Cache;
  proxy?: Proxy;
  image?: ImageService;
  /** GET /dashboard (the page, without the token: it asks for it), /dashboard/feed and /memory-history. */
  dashboard?: Dashboard;
}

interface Route {
  action: (query: URLSearchParams) => unknown;
  /** 201 for actions that create something (a heap snapshot file). */
  status: number;
  /** The action answers a whole PlainResponse (the dashboard's live feed), not a JSON value. */
  plain?: boolean;
}

export const MAX_TAG_LENGTH = 256;

/** The one tag from ?tag=, or a 400 that says what is accepted. */
export function parseTag(query: URLSearchParams): string {
  const all = query.getAll('tag');
  if (all.length === 0 || all[0] === '')
    throw new HeadroomError('HEADROOM_BAD_REQUEST', 'query parameter "tag" is required, e.g. POST /admin/cache/invalidate?tag=users');
  if (all.length > 1) throw new HeadroomError('HEADROOM_BAD_REQUEST', 'query parameter "tag" must be given once');
  const raw = all[0]!;
  // eslint-disable-next-line no-control-regex
  if (raw.length > MAX_TAG_LENGTH || /[\u0000-\u001f\u007f]/.test(raw)) {
    throw new HeadroomError(
      'HEADROOM_BAD_REQUEST',
      `query parameter "tag" must be 1 to ${MAX_TAG_LENGTH} characters without control characters`,
    );
  }
  return raw;
}

/** GET /admin/memory-stats: heap against its limit, RSS, the local and Redis cache. Numbers are bytes. */
export function memoryStats(monitor: MemoryMonitor, cache: Cache | undefined): unknown {
  const s = monitor.current();
  const cacheStats = cache?.stats();
  return {
    status: s.status,
    memory: {
      heapUsed: s.v8.usedHeapSize,
      heapTotal: s.v8.totalHeapSize,
      heapLimit: s.v8.heapSizeLimit,
      heapPercent: s.v8.heapUsedPercent,
      external: s.process.external,
      arrayBuffers: s.process.arrayBuffers,
      rss: s.process.rss,
      rssLimit: s.rssLimit,
      formatted: {
        heapUsed: formatBytes(s.v8.usedHeapSize),
        heapTotal: formatBytes(s.v8.totalHeapSize),
        heapLimit: formatBytes(s.v8.heapSizeLimit),
        heapPercent: `${s.v8.heapUsedPercent.toFixed(2)}%`,
        external: formatBytes(s.process.external),
        rss: formatBytes(s.process.rss),
      },
    },
    cache: {
      local: cacheStats
        ? {
            totalEntries: cacheStats.l1.entries,
            bytes: cacheStats.l1.bytes,
            maxBytes: cacheStats.l1.effectiveMaxBytes,
            hits: cacheStats.l1.hits,
            misses: cacheStats.l1.misses,
            entries: cache!.topKeys(10),
          }
        : null,
      redis:
        cacheStats?.l2?.kind === 'redis'
          ? { connected: cacheStats.l2.connected, keyCount: cacheStats.l2.keyCount }
          : { connected: false, keyCount: null },
    },
    uptime: process.uptime(),
    timestamp: new Date(s.timestamp).toISOString(),
  };
}

/** POST /admin/gc: one full collection, with the heap before and after. */
export function collectGarbage(monitor: MemoryMonitor): { before: number; after: number; freed: number; durationMs: number } {
  // The GC assist's handle on V8's gc(), which needs no --expose-gc.
  const gc = v8Gc();
  // Only a runtime that refuses V8 flags at run time gets here; nothing in Node 20–24 does.
  if (!gc) throw new HeadroomError('HEADROOM_INTERNAL', 'this runtime does not let the process start a garbage collection');
  const before = monitor.sampleNow().v8.usedHeapSize;
  const started = performance.now();
  // gc() without options: on Node 20 (V8 11.3) gc({ type: 'major', execution: 'sync' }) returns
  // in under a millisecond and leaves unreachable objects in the old generation.
  gc();
  const after = monitor.sampleNow().v8.usedHeapSize;
  return { before, after, freed: before - after, durationMs: performance.now() - started };
}

export interface AdminApi {
  handle(request: AdminRequest): Promise<PlainResponse>;
}

export function createAdminApi(options: AdminApiOptions): AdminApi {
  const limiter = createRateLimiter({ limit: options.rateLimit, windowMs: 60_000 });
  const authenticate = createAdminAuth(options.token, options.howToEnable);
  const { monitor, cache, proxy, image } = options;
  // path → method → route; a part that is absent has no routes (404).
  const routes = new Map<string, Record<string, Route>>();
  const add = (path: string, method: string, action: Route['action'], status = 200, plain = false): void => {
    routes.set(path, { ...routes.get(path), [method]: { action, status, plain } });
  };
  add('/memory-stats', 'GET', () => memoryStats(monitor, cache));
  add('/heap-snapshot', 'POST', () => monitor.writeHeapSnapshot(), 201);
  add('/gc', 'POST', () => collectGarbage(monitor));
  if (cache) {
    add('/cache-stats', 'GET', () => ({ ...cache.stats(), topKeys: cache.topKeys(10) }));
    add('/cache/clear', 'POST', async () => (await cache.invalidateAll(), { cleared: true }));
    add('/cache/invalidate', 'POST', async (q) => {
      const tag = parseTag(q);
      await cache.invalidateByTag(tag);
      return { invalidated: { tag } };
    });
  }
  if (proxy) add('/proxy-stats', 'GET', () => proxy.stats());
  if (image) add('/image-stats', 'GET', () => image.stats());
  const { dashboard } = options;
  if (dashboard) {
    add('/memory-history', 'GET', (q) => dashboard.history(q));
    if (dashboard.enabled) add('/dashboard/feed', 'GET', () => dashboard.feed(), 200, true);
  }

  return {
    async handle(request) {
      try {
        // The page and its files carry no data and a browser cannot send the token for them.
        const page = dashboard && pageResponse(dashboard, request);
        if (page) return page;
        enforceRateLimit(limiter, request.client);
        authenticate(request.authorization);
        const q = request.path.indexOf('?');
        const path = withoutTrailingSlashes(q === -1 ? request.path : request.path.slice(0, q));
        const methods = routes.get(path);
        if (!methods) throw new HeadroomError('HEADROOM_NOT_FOUND', `no admin endpoint ${path}`);
        const method = request.method === 'HEAD' ? 'GET' : request.method;
        const route = methods[method];
        if (!route) {
          const allow = Object.keys(methods).join(', ');
          throw new HeadroomError('HEADROOM_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; it takes ${allow}`, {
            headers: { allow },
          });
        }
        const result = await route.action(request.query);
        return route.plain ? (result as PlainResponse) : jsonResponse(route.status, result);
      } catch (err) {
        return errorResponse(err);
      }
    },
  };
}

/** GET /dashboard or /dashboard/<file> (not the feed): the file, a redirect from /dashboard/, or undefined. */
function pageResponse(dashboard: Dashboard, request: AdminRequest): PlainResponse | undefined {
  const m = /^\/dashboard(\/[^/]*)?$/.exec(request.path);
  if (!m || m[1] === '/feed' || (request.method !== 'GET' && request.method !== 'HEAD')) return undefined;
  // The page's links are relative to /dashboard; below a trailing slash they would miss.
  if (m[1] === '/') return { status: 308, headers: { location: '../dashboard', 'content-type': 'text/plain' }, body: '' };
  return dashboard.asset(m[1]?.slice(1) ?? '', request);
}
