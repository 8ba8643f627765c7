// The Fastify plugin: one `app.register(headroom, options)` wires the toolkit into an app —
// health/live/ready, /metrics, the admin API, load shedding in front of Fastify (before any hook
// of the app), the proxy and image routes (ordinary routes, so the app's own hooks run for them),
// `app.memory` and `app.headroom` decorators, and the app's close: preClose drains (readiness 503,
// new requests refused), onClose closes headroom.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
import type { MemoryMonitor, MemorySample, MemoryStatus } from '../../monitor/types.js';
import { proxyRoutes } from '../../proxy/fastify.js';
import { pathOf, routesIgnoreCase } from '../../toolkit/node-middleware.js';
import { standInFront } from '../../toolkit/in-front.js';
import { originForm } from '../../proxy/headers.js';
import { declaresBody } from '../../proxy/respond.js';
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
  /**
   * True while a `method` (default GET) request to `path` would be answered 503 (critical or
   * draining; shedExempt honoured; headroom's own routes, such as GET /health, are never shed).
   */
  shedding(path?: string, method?: string): boolean;
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

function memoryView(h: Headroom, own: OwnPaths, ignoreCase: boolean): FastifyMemory {
  const { monitor } = h;
  return {
    status: () => monitor.status(),
    current: () => monitor.current(),
    shedding: (path, method = 'GET') => h.wouldShed(path, ignoreCase) && (path === undefined || !own.owns(method.toUpperCase(), path)),
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
interface OwnPaths {
  add(route: string, method: string | string[]): void;
  has(url: string): boolean;
  owns(method: string | undefined, url: string): boolean;
}

function ownPaths(semicolon: boolean, find: FindRoute): OwnPaths {
  // Each own path with the methods its routes take (an app may have POST /health of its own).
  const exact = new Map<string, Set<string>>();
  const prefixes: { prefix: string; methods: Set<string> }[] = [];
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
  const normalPath = (url: string): string => {
    let path = pathOf(url);
    if (semicolon) path = path.split(';', 1)[0]!;
    return normal(path);
  };
  const slashes = (s: string): number => s.split('/').length;
  const has = (url: string): boolean => {
    if (!isRoot(url)) return false;
    const p = normalPath(url);
    if (exact.has(p)) return true;
    for (const { prefix } of prefixes) if (p.startsWith(prefix)) return true;
    return false;
  };
  return {
    add(route, method) {
      let start = 0;
      while (route.charCodeAt(start) === 47) start++;
      const root = route.slice(start, firstEnd(route, start)).toLowerCase();
      if (!roots.includes(root)) roots.push(root);
      const methods = typeof method === 'string' ? [method] : method;
      if (route.endsWith('/*')) {
        const prefix = normal(route.slice(0, -1)) + '/';
        const entry = prefixes.find((e) => e.prefix === prefix) ?? prefixes[prefixes.push({ prefix, methods: new Set() }) - 1]!;
        for (const m of methods) entry.methods.add(m);
      } else {
        const p = normal(route);
        const set = exact.get(p) ?? exact.set(p, new Set()).get(p)!;
        for (const m of methods) set.add(m);
      }
    },
    has,
    // Exact, for requests about to be refused or counted on HTTP/2 (cost does not matter there):
    // the app's own routes under headroom's paths (its /admin/reports beside /admin/*, its POST
    // /health) are the app's, asked of Fastify's router whichever came first. A route of headroom's
    // matches an own path with no parameter, or headroom's /* with its whole rest; any other match
    // is the app's. No route, or no router to ask: generous, as has() (the request 404s anyway).
    owns(method = 'GET', url) {
      if (!has(url)) return false;
      const found = find(method, url);
      if (!found) return true;
      const keys = Object.keys(found.params);
      const p = normalPath(url);
      const m = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
      const exactMethods = exact.get(p);
      if (exactMethods && m.some((x) => exactMethods.has(x))) return keys.length === 0;
      const wild = prefixes.find((e) => p.startsWith(e.prefix) && m.some((x) => e.methods.has(x)));
      const rest = found.params['*'];
      // Segments compared, normalised alike (its rest comes decoded: an encoded slash counts as the app's).
      return (
        wild !== undefined &&
        keys.length === 1 &&
        rest !== undefined &&
        slashes(normal(`/${rest}`)) === slashes(`/${p.slice(wild.prefix.length)}`)
      );
    },
  };
}

type FindRoute = (method: string, url: string) => { params: Record<string, string | undefined> } | null | undefined;

/** Fastify's router, asked as it would route `url` (null: no route; undefined: cannot be asked). */
function routerOf(app: FastifyInstance): FindRoute {
  return (method, url) => {
    if (typeof app.findRoute !== 'function') return undefined;
    try {
      return app.findRoute({ method: method as never, url }) as { params: Record<string, string | undefined> } | null;
    } catch {
      return undefined;
    }
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
function shedOnServer(app: FastifyInstance, h: Headroom, own: ReturnType<typeof ownPaths>, ignoreCase: boolean): boolean {
  const server = app.server as Server | undefined;
  if (!server || server.listenerCount('request') !== 1) return false;
  const undo = [gate(server, h, own, ignoreCase)];
  // Listening on 'localhost' (Fastify's default host), Fastify binds a second server, for the
  // other loopback address (::1), at listen time: it gets the same gate, or a warning.
  app.addHook('onListen', async function () {
    const servers = secondaryServers(app);
    if (servers) {
      for (const s of servers) if (s !== server && s.listenerCount('request') === 1) undo.push(gate(s, h, own, ignoreCase));
    } else if (addressCount(app) > 1) app.log.warn(UNGATED_BINDINGS);
  });
  app.addHook('onClose', async () => {
    for (const u of undo.splice(0)) u();
  });
  return true;
}

const UNGATED_BINDINGS =
  'headroom: Fastify listens on more than one address (host "localhost" is 127.0.0.1 and ::1) and headroom cannot find the ' +
  'other servers in this Fastify version: requests there are not shed, drained or counted in flight. ' +
  "Listen on one host: app.listen({ host: '127.0.0.1' }) (or '::', '0.0.0.0')";

/** Stands in front of one of the app's servers; returns the undo. */
function gate(server: Server, h: Headroom, own: ReturnType<typeof ownPaths>, ignoreCase: boolean): () => void {
  const byConnection = h.countServer(server);
  /** Answers a refused request of the app; false when it goes on (own routes, exempt paths). */
  const refuse = (req: IncomingMessage, res: ServerResponse, target: string): boolean => {
    const url = originForm(target); // an absolute-form probe (http://host/health/live) is still headroom's own
    if (own.owns(req.method, url)) return false;
    const refused = h.shed(pathOf(url), ignoreCase);
    if (!refused) return false;
    if (byConnection) h.uncount(res);
    // Its body is never read: the connection ends after the answer (as the proxy's refusals do).
    if (declaresBody(req)) res.setHeader('connection', 'close');
    writePlain(res, refused, req.method);
    return true;
  };
  return standInFront(
    server,
    byConnection
      ? (req, res) => !h.wouldShed() || !refuse(req, res, req.url ?? '/')
      : (req, res) => {
          const url = req.url ?? '/';
          if (h.wouldShed() && refuse(req, res, url)) return false;
          if (!own.owns(req.method, url)) h.countRequest(req, res);
          return true;
        },
  );
}

/**
 * The servers Fastify bound besides app.server (its kServerBindings, an own symbol of the root
 * instance, read through a scope's prototype chain); undefined when this Fastify keeps them elsewhere.
 */
function secondaryServers(app: FastifyInstance): Server[] | undefined {
  for (let o: object | null = app; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const key = Object.getOwnPropertySymbols(o).find((k) => k.description === 'fastify.serverBindings');
    if (key === undefined) continue;
    const servers = (o as Record<symbol, unknown>)[key];
    return Array.isArray(servers) ? (servers as Server[]) : undefined;
  }
  return undefined;
}

function addressCount(app: FastifyInstance): number {
  try {
    return app.addresses().length;
  } catch {
    return 0;
  }
}

/** Per Headroom of an app: ends the connections of the app's servers (gracefulShutdown, after its timeout). */
const connectionEnders = new WeakMap<Headroom, (force: boolean) => void>();

/**
 * For gracefulShutdown once app.close() has started: HTTP/2 sessions are closed (Node 20's
 * server.close() leaves them open, so an idle client would hold app.close() until the session
 * timeout); with `force` (requests still in flight after the timeout) HTTP/1 connections are cut
 * (closeAllConnections) and HTTP/2 sessions destroyed, on every server Fastify bound.
 */
export function endConnections(app: FastifyInstance, force: boolean): void {
  const end = connectionEnders.get(app.headroom);
  if (end) return end(force);
  const server = app.server as Partial<Server>;
  if (force && typeof server.closeAllConnections === 'function') server.closeAllConnections();
}

/** Remembers the open HTTP/2 sessions of the app's servers (an HTTP/1 server lists its own connections). */
function trackConnections(app: FastifyInstance, h: Headroom): void {
  const sessions = new Set<Http2Session>();
  const watched: EventEmitter[] = [];
  const onSession = (session: Http2Session): void => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  };
  const watch = (server: unknown): void => {
    if (!(server instanceof EventEmitter) || typeof (server as Partial<Server>).closeAllConnections === 'function') return;
    if (watched.includes(server)) return;
    server.on('session', onSession);
    watched.push(server);
  };
  const servers = (): unknown[] => [app.server, ...(secondaryServers(app) ?? [])];
  watch(app.server);
  app.addHook('onListen', async () => servers().forEach(watch));
  app.addHook('onClose', async () => {
    for (const server of watched.splice(0)) server.off('session', onSession);
  });
  connectionEnders.set(h, (force) => {
    if (force) for (const s of servers()) (s as Partial<Server>).closeAllConnections?.();
    for (const session of sessions) {
      if (force) session.destroy();
      else session.close();
    }
  });
}

/** The same check as an onRequest hook, for a server headroom cannot stand in front of (a serverFactory). */
function shedding(h: Headroom, ignoreCase: boolean) {
  return function onRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (isOwnRoute(request)) return done();
    const refused = h.shed(pathOf(request.url), ignoreCase);
    if (refused) {
      void sendPlain(reply, refused);
      return;
    }
    h.countRequest(request.raw, reply.raw);
    done();
  };
}

async function plugin(app: FastifyInstance, options: FastifyHeadroomOptions): Promise<void> {
  const { plugin: o, register, headroom: headroomOptions } = resolvePluginOptions(options);
  const h = createHeadroom(headroomOptions);
  const own = ownPaths(app.initialConfig.useSemicolonDelimiter === true, routerOf(app));
  // Routes found in any case (Fastify's caseSensitive: false): an exempt path is exempt in any case too.
  const ignoreCase = routesIgnoreCase(app);
  try {
    app.decorate('headroom', h);
    app.decorate('memory', memoryView(h, own, ignoreCase));
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
  app.addHook('onRoute', (route) => {
    if ((route.config as Record<symbol, unknown> | undefined)?.[OWN_ROUTE] === true) own.add(route.url, route.method);
  });
  if (!shedOnServer(app, h, own, ignoreCase)) app.addHook('onRequest', shedding(h, ignoreCase));
  trackConnections(app, h);

  // The register prefix and logLevel (logSerializers) reach each route group as they would an
  // ordinary plugin's routes.
  const at = (path: string): { prefix?: string } => (o.prefix || path ? { prefix: (o.prefix ?? '') + path } : {});
  if (o.healthPath) await app.register(healthRoutes, { headroom: h, ...register, ...at(o.healthPath) });
  if (o.metricsPath) await app.register(metricsRoutes, { headroom: h, ...register, ...at(o.metricsPath) });
  if (o.adminPath) await app.register(adminRoutes, { headroom: h, ...register, ...at(o.adminPath) });
  if (h.proxy && o.proxyRoutes) await app.register(proxyRoutes, { proxy: h.proxy, ...register, ...at('') });
  if (h.image && o.imageRoutes) await app.register(imageRoutes, { image: h.image, ...register, ...at('') });
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
