// headroom-memory/express: headroom in an Express (4 or 5) or Connect app.
//
//   const hr = headroom({ proxy: { upstreamUrl }, adminToken });
//   app.use(hr.middleware());          // /health, /metrics, /admin/*, shedding, in-flight count
//   app.use('/api', hr.proxy());       // before express.json(): the body is streamed, not parsed
//   hr.shutdown(app.listen(3000));     // SIGTERM: ready 503, in-flight finish, everything closes
//
// or, instead of hr.middleware(), in front of the app (cheaper: Express never sees what headroom answers):
//   hr.shutdown(http.createServer(hr.handler(app)).listen(3000));
//
// Express itself is never imported: the handlers are plain (req, res, next) functions on Node's
// objects, so the package does not need express at run time and works with Connect as well.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HeadroomError } from '../../errors.js';
import { nestedOptions } from '../../options/spec.js';
import { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
import { afterMount, mountToPrefix } from '../../proxy/mount.js';
import { originForm } from '../../proxy/headers.js';
import {
  appClient,
  nodeGate,
  nodeMiddleware,
  pathOf,
  resolveNodeRoutes,
  routesIgnoreCase,
  type NodeMiddleware,
  type NodeRequest,
  type NodeRoutePaths,
} from '../../toolkit/node-middleware.js';
import { serveNodeImage } from '../../toolkit/node-image.js';
import { proxyNodeRequest } from '../../toolkit/node-proxy.js';
import { errorResponse, writePlain } from '../../toolkit/response.js';
import { describeShadowed, expressRoutes, routesShadowed, type ExpressLayer } from '../../toolkit/shadowed-routes.js';
import { gracefulShutdown, type Shutdown, type ShutdownOptions } from '../../toolkit/shutdown.js';

export interface ExpressHeadroomOptions extends HeadroomOptions {
  /**
   * Where middleware() answers health, metrics and the admin API (relative to where it is mounted):
   * paths like /health, or false. A bad one stops headroom() with HEADROOM_CONFIG_INVALID.
   */
  routes?: NodeRoutePaths;
}

export interface ExpressHeadroom {
  /** The framework-neutral core (monitor, registry, proxy, cache, image, shed(), health(), …). */
  readonly headroom: Headroom;
  /**
   * Mount first, before auth and body parsers: answers GET /health, /health/live, /health/ready,
   * /metrics and /admin/* itself (never shed), answers every other request 503 + Retry-After while
   * memory is critical or the app drains, and counts the rest in flight until their response closes.
   */
  middleware(): NodeMiddleware;
  /**
   * What middleware() does, in front of the app instead of inside it:
   * `http.createServer(hr.handler(app))`. Headroom's routes and shed requests never reach Express
   * (no Express layer per request, nothing allocated for a request refused under memory pressure);
   * the app's requests are counted and handed to `app`. The routes are at the server's root; the
   * admin rate limit finds the client with the app's `trust proxy` setting as req.ip would. Use
   * either this or middleware(), not both.
   */
  handler(app: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * The streaming proxy (needs the `proxy` option). Mounted at a path (`app.use('/api', hr.proxy())`)
   * it forwards what follows the mount path, with the query exactly as sent; mounted without one
   * (`app.use(hr.proxy())`) it takes the URLs under `proxy.prefix` and passes the rest on. As a route
   * handler (`app.all('/raw/*splat', hr.proxy())`) the route's literal part ('/raw') stands for the
   * prefix; a route with parameters before its wildcard is answered 500 HEADROOM_CONFIG_INVALID
   * saying to mount it instead. Mount it before body parsers: a body they already read is answered 500 HEADROOM_BODY_CONSUMED, never
   * forwarded empty.
   */
  proxy(): NodeMiddleware;
  /**
   * GET /image?url=&w=&h=&q=&format= (needs the `image` option): `app.get('/image', hr.image())`.
   * Other methods (when mounted with app.use) are answered 405 with `Allow: GET, HEAD`.
   */
  image(): NodeMiddleware;
  /**
   * On SIGTERM/SIGINT (or when the returned function is called): readiness 503, new requests
   * refused, in-flight ones finish, then the server, `close` and headroom close. Never exits the
   * process: it ends by itself once nothing is left open.
   */
  shutdown(server: Server, options?: Omit<ShutdownOptions, 'headroom' | 'server'>): Shutdown;
  /** Closes what headroom() created (the shared monitor when it is the last user). Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What the user called, in messages. */
const LABEL = 'headroom() from headroom-memory/express';

function missing(option: string, method: string): HeadroomError {
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `${LABEL}: hr.${method}() needs the ${option} option, e.g. headroom({ ${option}: ${option === 'proxy' ? '{ upstreamUrl }' : '{ allowedOrigins }'} })`,
  );
}

type ExpressRequest = NodeRequest & { route?: { path?: unknown; stack?: { handle?: unknown }[] } };

const noTrailingSlash = (path: string): string => (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);

/**
 * Whether Express or Connect cut a mount path from req.url. Connect has no req.baseUrl: there the
 * client's path must be req.url's path with something cut before it (a '/' begins req.url, so the
 * cut is at a segment boundary), so that a URL an earlier middleware rewrote (a trailing-slash
 * normaliser: /about/ → /about) is not taken for a mount and sent upstream with the client's
 * credentials. A trailing slash may differ (such a normaliser before the mount: /gw/x/ → /x).
 */
function mounted(req: NodeRequest): boolean {
  if (req.baseUrl !== undefined) return req.baseUrl !== '';
  const { originalUrl, url } = req;
  if (originalUrl === undefined || url === undefined || originalUrl === url) return false;
  const client = noTrailingSlash(pathOf(originForm(originalUrl)));
  const left = noTrailingSlash(pathOf(originForm(url)));
  // Connect gives '/' for the mount path itself (/gw → '/').
  if (left === '/') return client !== '/';
  return client.length > left.length && client.endsWith(left);
}

/** The query (or '') when the client asked for the mount path itself, without '/' after it (/api, /api?q=1); else undefined. */
function bareMount(req: NodeRequest): string | undefined {
  const { originalUrl, baseUrl } = req;
  if (!originalUrl || !baseUrl) return undefined;
  const rest = afterMount(originForm(originalUrl), baseUrl);
  return rest === '' || rest?.charCodeAt(0) === 63 ? rest : undefined;
}

/**
 * The literal mount of a route path the proxy is the handler of: '/raw/*splat', '/raw{/*splat}'
 * and '/raw' → '/raw'. Undefined when parameters or patterns come before the wildcard (or the path
 * is a RegExp or an array): then no mount can stand for the proxy's prefix.
 */
function routeMount(path: unknown): string | undefined {
  if (typeof path !== 'string') return undefined;
  const literal = path.replace(/(\/\*\w*|\{\/\*\w*\})$/, '');
  return /[:*(){}[\]?+]/.test(literal) ? undefined : literal;
}

function unusableRoute(path: unknown): HeadroomError {
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `hr.proxy() is the handler of the route ${String(path)}, whose path has parameters or patterns before its wildcard, so no mount path can stand for the proxy's prefix: mount it with app.use('/path', hr.proxy()) or give the route a literal path such as '/raw/*splat'`,
  );
}

const IMAGE_METHODS = 'GET, HEAD';

/** What shadowedRoutesCheck reads of an Express app (Express 5 keeps its router at app.router). */
interface ExpressAppLike {
  router?: { stack?: ExpressLayer[] };
  get?: (setting: string) => unknown;
}

/**
 * Once, at the first request (Express has no start-up hook, and the routes come after headroom's
 * middleware): warns when the app has routes that headroom answers in their place. `handle` is the
 * middleware (only the routes after its layer in the app's own stack are shadowed; mounted inside a
 * Router it cannot be found and nothing is said), or undefined for hr.handler(app), which stands
 * in front of every route. `base` is where the middleware is mounted (req.baseUrl).
 */
function warnShadowedRoutes(app: unknown, handle: unknown, base: string, paths: Required<NodeRoutePaths>, call: string): void {
  const a = app as ExpressAppLike | undefined;
  let stack: ExpressLayer[] | undefined;
  try {
    stack = a?.router?.stack;
  } catch {
    return; // Express 4's app.router getter throws ("app.router is deprecated"); its routes are not looked at
  }
  if (!Array.isArray(stack)) return;
  const at = handle === undefined ? -1 : stack.findIndex((layer) => layer.handle === handle);
  if (handle !== undefined && at === -1) return;
  const under = (path: string | false): string | false => path !== false && base + path;
  const own = { health: under(paths.health), metrics: under(paths.metrics), admin: under(paths.admin) };
  const anyCase = typeof a?.get === 'function' ? a.get('case sensitive routing') !== true : false;
  const shadowed = routesShadowed(expressRoutes(stack.slice(at + 1)), own, anyCase);
  if (shadowed.length === 0) return;
  const { routes, move, off } = describeShadowed(shadowed);
  process.emitWarning(
    `${call}: the app's route ${routes} is answered by headroom before Express routes it, so it is never reached. Move headroom's path with headroom({ ${move} }), turn it off with headroom({ ${off} }), or move the route.`,
    { code: 'HEADROOM_ROUTES_SHADOWED' },
  );
}

export function headroom(options: ExpressHeadroomOptions = {}): ExpressHeadroom {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${LABEL}: options must be an object, e.g. headroom({ proxy: { upstreamUrl } })`);
  const { routes, ...rest } = options;
  const paths = resolveNodeRoutes(`${LABEL}: routes`, routes);
  // Its messages name headroom(), which the user called, rather than createHeadroom.
  const hr = createHeadroom(nestedOptions(rest, LABEL, options, ''));
  return {
    headroom: hr,
    middleware() {
      // Express (and Connect) route paths in any case by default: an exempt path is exempt in any case too.
      const gate = nodeMiddleware(hr, { ...paths, ignoreCase: (req) => routesIgnoreCase((req as { app?: unknown }).app) });
      let looked = false;
      const middleware: NodeMiddleware = (req, res, next) => {
        if (!looked) {
          looked = true;
          warnShadowedRoutes((req as { app?: unknown }).app, middleware, req.baseUrl ?? '', paths, 'hr.middleware()');
        }
        gate(req, res, next);
      };
      return middleware;
    },
    handler(app) {
      if (typeof app !== 'function') {
        throw new HeadroomError(
          'HEADROOM_CONFIG_INVALID',
          `${LABEL}: hr.handler(app) takes the app's request listener (an Express or Connect app, or any (req, res) function); got ${app === null ? 'null' : typeof app}`,
        );
      }
      const gate = nodeGate(hr, { ...paths, client: appClient(app), ignoreCase: () => routesIgnoreCase(app) });
      let looked = false;
      return (req, res) => {
        if (!looked) {
          looked = true;
          warnShadowedRoutes(app, undefined, '', paths, 'hr.handler(app)');
        }
        if (gate(req, res)) app(req, res);
      };
    },
    proxy() {
      const proxy = hr.proxy;
      if (!proxy) throw missing('proxy', 'proxy');
      // Per route: its literal mount when this handler is one of the route's own handlers, null
      // when it is but the path has no literal mount, false when the route is a stale req.route
      // (Express leaves it set after a route called next()).
      const mounts = new WeakMap<object, string | null | false>();
      const handler: NodeMiddleware = (req: ExpressRequest, res, next) => {
        // An absolute-form target (http://host/api/x; Express keeps the scheme and host when it cuts a mount).
        const url = originForm(req.url ?? '/');
        const route = req.route;
        if (route && typeof route === 'object') {
          let mount = mounts.get(route);
          if (mount === undefined) {
            const own = Array.isArray(route.stack) && route.stack.some((layer) => layer.handle === handler);
            mount = own ? (routeMount(route.path) ?? null) : false;
            mounts.set(route, mount);
          }
          if (mount !== false) {
            // A route handler (app.all('/raw/*splat', hr.proxy())): Express cut nothing from
            // req.url, so the route's literal mount stands for the proxy's prefix.
            // In any case: the router matched the route already, and Express routes case-insensitively
            // unless told not to (per app or per Router, so the app's setting alone would not tell).
            const target = mount === null ? undefined : mountToPrefix(url, mount, proxy.prefix, true);
            if (target === undefined) return writePlain(res, errorResponse(unusableRoute(route.path)), req.method);
            return proxyNodeRequest(proxy, req, res, target);
          }
        }
        if (mounted(req)) {
          // The mount path stands for the proxy's prefix: the proxy cuts the prefix (stripPrefix)
          // and forwards the rest, so `/api/echo?x=4` mounted at /api reaches the upstream as /echo?x=4.
          // Express gives req.url '/' for both /api and /api/: the bare mount maps as the proxy maps
          // its bare prefix (to the upstream's base path itself, not base + '/').
          const bare = url.charCodeAt(1) === 63 /* ? */ || url === '/' ? bareMount(req) : undefined;
          return proxyNodeRequest(proxy, req, res, mountToPrefix(bare ?? url, '', proxy.prefix) ?? url);
        }
        if (!proxy.matches(url)) return next();
        proxyNodeRequest(proxy, req, res, url);
      };
      return handler;
    },
    image() {
      const image = hr.image;
      if (!image) throw missing('image', 'image');
      return (req, res) => {
        const method = req.method ?? 'GET';
        if (method !== 'GET' && method !== 'HEAD') {
          // Mounted with app.use() it sees every method; the image route only reads.
          const err = new HeadroomError(
            'HEADROOM_METHOD_NOT_ALLOWED',
            `${method} is not allowed on the image route; it takes ${IMAGE_METHODS}`,
            {
              headers: { allow: IMAGE_METHODS },
            },
          );
          return writePlain(res, errorResponse(err), method);
        }
        void serveNodeImage(image, req, res, req.originalUrl ?? req.url);
      };
    },
    shutdown(server, shutdownOptions) {
      // Without a server the stop would close headroom but leave the app listening (and the process up).
      if (server === undefined || server === null)
        throw new HeadroomError(
          'HEADROOM_CONFIG_INVALID',
          `hr.shutdown(server): server is required: the HTTP server to stop, e.g. hr.shutdown(app.listen(3000)); got ${String(server)}`,
        );
      return gracefulShutdown({ ...shutdownOptions, headroom: hr, server }, 'hr.shutdown');
    },
    close: () => hr.close(),
    [Symbol.asyncDispose]: () => hr.close(),
  };
}

export { createHeadroom, type Headroom, type HeadroomOptions } from '../../toolkit/headroom.js';
export { gracefulShutdown, type Shutdown, type ShutdownOptions } from '../../toolkit/shutdown.js';
// Expect: 100-continue answered once the app reads the body: continueOnRead(createServer(hr.handler(app))).
export { continueOnRead } from '../../toolkit/continue.js';
export type { NodeMiddleware, NodeRequest, NodeRoutePaths, NextFunction } from '../../toolkit/node-middleware.js';
export * from '../../shared-entry.js';
// Capped request/response body capture (docs/logging.md#capped-body-capture): app.use(captureMiddleware(createBodyCapture({ logger }))).
export { captureMiddleware } from '../../toolkit/node-capture.js';
export * from '../../capture-entry.js';
export { accountingMiddleware } from '../../toolkit/node-capture.js';
// Per-route heap attribution (docs/logging.md#per-route-heap-attribution).
export { routeHeapMiddleware } from '../../toolkit/node-route-heap.js';
