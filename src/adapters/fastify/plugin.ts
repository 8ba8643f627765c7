// The Fastify plugin: one `app.register(headroom, options)` wires the toolkit into an app —
// health/live/ready, /metrics, the admin API, load shedding in front of Fastify (before any hook
// of the app), the proxy and image routes (ordinary routes, so the app's own hooks run for them),
// `app.memory` and `app.headroom` decorators, and the app's close: preClose drains (readiness 503,
// new requests refused), onClose closes headroom.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
import type { MemoryMonitor, MemorySample, MemoryStatus } from '../../monitor/types.js';
import { proxyRoutes } from '../../proxy/fastify.js';
import { pathOf } from '../../toolkit/node-middleware.js';
import { standInFront } from '../../toolkit/in-front.js';
import { originForm } from '../../proxy/headers.js';
import { writePlain } from '../../toolkit/response.js';
import { resolvePluginOptions } from './options.js';
import { adminRoutes, healthRoutes, imageRoutes, metricsRoutes, OWN_ROUTE, sendPlain } from './routes.js';

export interface FastifyHeadroomOptions extends HeadroomOptions {
  /** Health routes: the path, its /live and /ready probes (default /health); false = not mounted. */
  healthPath?: string | false;
  /** Prometheus scrape path (default /metrics); false = not mounted. */
  metricsPath?: string | false;
  /** Admin API, ANY <path>/* (default /admin); false = not mounted. */
  adminPath?: string | false;
  /** Mount the proxy at its prefix when `proxy` is set (default true). false: mount `proxyRoutes` yourself. */
  proxyRoutes?: boolean;
  /** Mount GET /image and /image/meta when `image` is set (default true). false: mount `imageRoutes` yourself. */
  imageRoutes?: boolean;
}

/** What handlers can ask about memory: `app.memory` (also `request.server.memory`). */
export interface FastifyMemory {
  /** healthy, warning or critical, with the monitor's hysteresis. */
  status(): MemoryStatus;
  /** The latest sample: V8 heap against its limit, process memory, event loop (bytes). */
  current(): MemorySample;
  /** True while a request to `path` would be answered 503 (critical or draining; shedExempt honoured). */
  shedding(path?: string): boolean;
  /** The process's shared memory monitor (onPressure, history, heap snapshots). */
  readonly monitor: MemoryMonitor;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** headroom's parts (proxy, image, cache, registry) and lifecycle (drain, idle, close), from the headroom plugin. */
    headroom: Headroom;
    /** Memory status for handlers, from the headroom plugin. */
    memory: FastifyMemory;
  }
}

function memoryView(h: Headroom): FastifyMemory {
  const { monitor } = h;
  return {
    status: () => monitor.status(),
    current: () => monitor.current(),
    shedding: (path) => h.wouldShed(path),
    monitor,
  };
}

/**
 * True for headroom's own routes — health and its probes, metrics, the admin API (which has its own
 * bearer token) — so an app's auth hook can let them through: Kubernetes and Prometheus send no
 * credentials. Decided from the matched route, not the URL, so no path trick reaches past the auth.
 *
 *   app.addHook('onRequest', async (request, reply) => { if (isOwnRoute(request)) return; … });
 */
export function isOwnRoute(request: FastifyRequest): boolean {
  const config = request.routeOptions.config as unknown as Record<symbol, unknown> | undefined;
  return config?.[OWN_ROUTE] === true;
}

/**
 * The paths of headroom's own routes, learnt from onRoute (route config OWN_ROUTE), checked on the
 * raw URL before Fastify routes it. Generous on purpose (case, duplicate and trailing slashes are
 * ignored): a path wrongly taken for an own route is merely not shed, and then 404s.
 */
function ownPaths(semicolon: boolean): { add(route: string): void; has(url: string): boolean } {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  // The first segment of every own route ("health", "metrics", "admin"), lower case: an app's path
  // is told apart by its first segment, compared in place (no string made) against these few.
  const roots: string[] = [];
  const firstEnd = (path: string, start: number): number => {
    let end = start;
    for (; end < path.length; end++) {
      const c = path.charCodeAt(end);
      if (c === 47 /* / */ || c === 63 /* ? */ || (semicolon && c === 59) /* ; */) break;
    }
    return end;
  };
  const isRoot = (path: string): boolean => {
    let start = 0;
    while (path.charCodeAt(start) === 47 /* / */) start++;
    const end = firstEnd(path, start);
    for (const root of roots) {
      if (root.length !== end - start) continue;
      // Generous on purpose, like the rest: bit 5 folds ASCII case (and pairs a few symbols), any
      // non-ASCII character passes; has() then compares the normalised path exactly.
      let i = 0;
      for (; i < root.length; i++) {
        const a = path.charCodeAt(start + i);
        const b = root.charCodeAt(i);
        if ((a | 32) !== (b | 32) && a < 128 && b < 128) break;
      }
      if (i === root.length) return true;
    }
    return false;
  };
  const normal = (path: string): string => {
    let p = path.toLowerCase();
    if (p.includes('//')) p = p.replace(/\/{2,}/g, '/');
    return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
  };
  return {
    add(route) {
      let start = 0;
      while (route.charCodeAt(start) === 47) start++;
      const root = route.slice(start, firstEnd(route, start)).toLowerCase();
      if (!roots.includes(root)) roots.push(root);
      if (route.endsWith('/*')) prefixes.push(normal(route.slice(0, -1)) + '/');
      else exact.add(normal(route));
    },
    has(url) {
      if (!isRoot(url)) return false;
      let path = pathOf(url);
      if (semicolon) path = path.split(';', 1)[0]!;
      const p = normal(path);
      if (exact.has(p)) return true;
      for (const prefix of prefixes) if (p.startsWith(prefix)) return true;
      return false;
    },
  };
}

/**
 * Shedding runs on the HTTP server, in front of Fastify's request listener: while critical or
 * draining a request is answered 503 + Retry-After before routing and before ANY hook of the app
 * (an auth hook's JWT or database work is not spent on it, and the client gets 503, not 401 —
 * as with Express and NestJS), whatever the order of registration and in every encapsulated scope.
 * Fastify's hooks cannot give that: instance hooks run in the order they were added, route-level
 * hooks (which an onRoute hook could add) run after them. The app's requests are counted in flight
 * by their connections (h.countServer: nothing per request), so while healthy the gate asks one
 * question and looks at nothing of the request: headroom's own routes leave the count in their
 * handlers (routes.ts), and are looked for here only while refusing (so that they still answer).
 * On HTTP/2 each request is counted until its response's 'close' (h.countRequest), own routes not.
 *
 * app.inject() calls Fastify's handler directly, so injected requests are neither shed nor counted.
 * No onRequest hook covers them: any onRequest hook makes Fastify run its hook runner for every
 * request of the app, in production, for the sake of tests (under callgrind, dropping that hook
 * and the bookkeeping it needed took the plugin from ~4.8 % to ~1.9 % of a bare request).
 *
 * Returns false when the server has no single request listener to stand in front of (a custom
 * serverFactory); the onRequest hook then does the same work, after the hooks added before it.
 */
function shedOnServer(app: FastifyInstance, h: Headroom, own: ReturnType<typeof ownPaths>): boolean {
  const server = app.server as Server | undefined;
  if (!server || server.listenerCount('request') !== 1) return false;
  const byConnection = h.countServer(server);
  /** Answers a refused request of the app; false when it goes on (own routes, exempt paths). */
  const refuse = (req: IncomingMessage, res: ServerResponse, target: string): boolean => {
    const url = originForm(target); // an absolute-form probe (http://host/health/live) is still headroom's own
    if (own.has(url)) return false;
    const refused = h.shed(pathOf(url));
    if (!refused) return false;
    if (byConnection) h.uncount(res);
    writePlain(res, refused, req.method);
    return true;
  };
  const undo = standInFront(
    server,
    byConnection
      ? (req, res) => !h.wouldShed() || !refuse(req, res, req.url ?? '/')
      : (req, res) => {
          const url = req.url ?? '/';
          if (h.wouldShed() && refuse(req, res, url)) return false;
          if (!own.has(url)) h.countRequest(req, res);
          return true;
        },
  );
  app.addHook('onClose', async () => undo());
  return true;
}

/** The same check as an onRequest hook, for a server headroom cannot stand in front of (a serverFactory). */
function shedding(h: Headroom) {
  return function onRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (isOwnRoute(request)) return done();
    const refused = h.shed(pathOf(request.url));
    if (refused) {
      void sendPlain(reply, refused);
      return;
    }
    h.countRequest(request.raw, reply.raw);
    done();
  };
}

async function plugin(app: FastifyInstance, options: FastifyHeadroomOptions): Promise<void> {
  const { plugin: o, headroom: headroomOptions } = resolvePluginOptions(options);
  const h = createHeadroom(headroomOptions);
  try {
    app.decorate('headroom', h);
    app.decorate('memory', memoryView(h));
  } catch (err) {
    await h.close();
    throw err;
  }
  app.addHook('onClose', () => h.close());
  // Fastify answers 503 itself once close() starts; drain() also turns readiness 503 and sheds
  // requests on connections that are already open. Fastify runs onClose only once every request
  // has finished, so a proxied download that never ends (an upstream trickling a byte a second)
  // would hold app.close() for ever: the proxy's close starts here, bounded by its closeTimeout
  // (then its upstream requests are destroyed); onClose's h.close() gets that same close.
  app.addHook('preClose', (done) => {
    h.drain();
    void h.proxy?.close();
    done();
  });
  const own = ownPaths(app.initialConfig.useSemicolonDelimiter === true);
  app.addHook('onRoute', (route) => {
    if ((route.config as Record<symbol, unknown> | undefined)?.[OWN_ROUTE] === true) own.add(route.url);
  });
  if (!shedOnServer(app, h, own)) app.addHook('onRequest', shedding(h));

  if (o.healthPath) await app.register(healthRoutes, { headroom: h, prefix: o.healthPath });
  if (o.metricsPath) await app.register(metricsRoutes, { headroom: h, prefix: o.metricsPath });
  if (o.adminPath) await app.register(adminRoutes, { headroom: h, prefix: o.adminPath });
  if (h.proxy && o.proxyRoutes) await app.register(proxyRoutes, { proxy: h.proxy });
  if (h.image && o.imageRoutes) await app.register(imageRoutes, { image: h.image });
}

// The effect of fastify-plugin, without depending on it: skip-override runs the plugin in the
// scope it is registered in, so its decorators and hooks reach the app's routes.
// (fastify-plugin is only a transitive dependency here; these symbols are Fastify's documented contract.)
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'headroom-memory',
  [Symbol.for('plugin-meta')]: { name: 'headroom-memory', fastify: '5.x' },
});

/** The headroom plugin: `await app.register(headroom, { proxy: { upstreamUrl } })`. Register it once, at the root. */
export const headroom: FastifyPluginAsync<FastifyHeadroomOptions> = plugin;
