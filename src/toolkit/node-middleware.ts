// Connect-style middleware on Node's req/res, for every framework that speaks it (Express, Connect,
// NestJS middleware on either platform): answers health, metrics and the admin API, sheds the
// app's requests while memory is critical or the app drains, and counts the rest in flight until
// their response finishes or their connection closes (so an aborted request gives its slot back).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOrOff, resolveOptions } from '../options/spec.js';
import { refuseOverlappingPaths } from './paths.js';
import { clientAddress } from '../proxy/client.js';
import { originForm } from '../proxy/headers.js';
import { declaresBody } from '../proxy/respond.js';
import { adminRequestFromUrl } from './admin-request.js';
import { errorResponse, writePlain, type PlainResponse } from './response.js';
import type { Headroom } from './headroom.js';

export { clientAddress };

/** What Express, Connect and NestJS hand a middleware: Node's request with a few optional extras. */
export interface NodeRequest extends IncomingMessage {
  /** Express: the client address after `trust proxy` is applied. */
  ip?: string;
  /** Express and Connect: the URL before a mount path was cut from req.url. */
  originalUrl?: string;
  /** Express: the mount path the request matched. */
  baseUrl?: string;
}

export type NextFunction = (err?: unknown) => void;
export type NodeMiddleware = (req: NodeRequest, res: ServerResponse, next: NextFunction) => void;

export interface NodeRoutePaths {
  /** GET /health, plus /live and /ready below it; false leaves them to the app. Default "/health". */
  health?: string | false;
  /** Prometheus scrape; false leaves it to the app. Default "/metrics". */
  metrics?: string | false;
  /** The admin API below this path; false turns it off. Default "/admin". */
  admin?: string | false;
}

export interface NodeMiddlewareOptions extends NodeRoutePaths {
  /** The URL to route on (default req.url; NestJS: the URL before a platform rewrote it). */
  url?(req: NodeRequest): string;
  /** The client address for the admin rate limit (default clientAddress: req.ip, else the socket's). */
  client?(req: NodeRequest): string;
  /** Whether the app routes this request's path in any case (routesIgnoreCase): shedExempt then matches in any case too. */
  ignoreCase?(req: NodeRequest): boolean;
  /** Runs for the app's requests that pass (not shed, now counted in flight), just before next(). */
  beforeNext?(req: NodeRequest, path: string): void;
  /**
   * The Node HTTP server whose every request passes this gate: its requests are then counted in
   * flight by connection (Headroom.countServer: nothing done per request) and headroom's own answers
   * left out, instead of being counted one by one.
   */
  server?: unknown;
}

/** Where nodeMiddleware answers: one spec per route path, shared by every adapter built on it. */
export const nodeRouteSpecs = {
  health: pathOrOff({ doc: 'GET <path>, <path>/live and <path>/ready; false leaves them to the app.', default: '/health' }),
  metrics: pathOrOff({ doc: 'Prometheus scrape path; false leaves it to the app.', default: '/metrics' }),
  admin: pathOrOff({ doc: 'The admin API below this path; false turns it off.', default: '/admin' }),
};

/** Validated route paths (HEADROOM_CONFIG_INVALID naming `factory`, the key, the value and what is accepted). */
export function resolveNodeRoutes(factory: string, paths: NodeRoutePaths = {}): Required<NodeRoutePaths> {
  const resolved = resolveOptions(factory, nodeRouteSpecs, paths);
  refuseOverlappingPaths(factory, resolved);
  return resolved;
}

/** The path of a request URL: everything before the query. */
export const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/**
 * The client address as Express works out req.ip under its `trust proxy` setting, for a gate that
 * runs before Express (where req.ip does not exist yet). `trust(address, hop)` is Express's
 * compiled setting, app.get('trust proxy fn'): starting at the connection's address, each trusted
 * hop lets the next address to the left in X-Forwarded-For stand for the client.
 */
export function trustedClient(req: NodeRequest, trust: (address: string, hop: number) => boolean): string {
  let address = req.socket?.remoteAddress ?? 'unknown';
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string' || header === '') return address;
  const entries = header.split(',');
  for (let i = entries.length - 1, hop = 0; i >= 0; i--) {
    const entry = entries[i]!.trim();
    if (entry === '') continue; // `a, , b` or a trailing comma: no hop (Express's parser skips them too)
    if (!trust(address, hop++)) break;
    address = entry;
  }
  return address;
}

/** For a gate in front of an Express app: its client rule (`trust proxy`), read at each call; the socket's address for other apps. */
export function appClient(app: unknown): (req: NodeRequest) => string {
  return (req) => {
    const get = (app as { get?: (setting: string) => unknown }).get;
    const trust = typeof get === 'function' ? get.call(app, 'trust proxy fn') : undefined;
    return typeof trust === 'function' ? trustedClient(req, trust as (address: string, hop: number) => boolean) : clientAddress(req);
  };
}

const requestUrl = (req: NodeRequest): string => req.url ?? '/';

/**
 * Whether an app finds its routes whatever the case of the path, so that shedExempt must match in
 * any case too: Express unless its router was made case-sensitive (the `case sensitive routing`
 * setting as it was when the router was created, at the first route; asked per request, while
 * refusing, when the routes exist), Fastify only with `caseSensitive: false` (in `routerOptions`, or
 * the older top-level option), Connect (or an app we cannot tell) always.
 */
export function routesIgnoreCase(app: unknown): boolean {
  type Config = { caseSensitive?: unknown; routerOptions?: { caseSensitive?: unknown } };
  const a = app as { enabled?: unknown; initialConfig?: Config; _router?: unknown; router?: unknown } | null | undefined;
  if (typeof a?.enabled === 'function') {
    let router: unknown;
    try {
      router = a._router ?? a.router; // Express 4 keeps it in _router; its `router` getter throws
    } catch {
      router = undefined;
    }
    const sensitive = (router as { caseSensitive?: unknown } | undefined)?.caseSensitive;
    return typeof sensitive === 'boolean' ? !sensitive : !(a.enabled as (setting: string) => boolean).call(a, 'case sensitive routing');
  }
  const config = a?.initialConfig;
  if (config && typeof config === 'object') return (config.routerOptions?.caseSensitive ?? config.caseSensitive) === false;
  return true;
}

/**
 * What nodeMiddleware does before next(), for callers that are not a middleware chain (a request
 * listener in front of an app): answers health, metrics, the admin API and shed requests itself
 * and returns false, or counts the request in flight and returns true.
 */
export type NodeGate = (req: NodeRequest, res: ServerResponse) => boolean;

/**
 * The second and third characters of each own path, in pairs (-1: the path has no third), or
 * undefined when an own path is '/' itself: a URL matching no pair cannot start with any of them.
 */
function leadsOf(paths: (string | false)[]): number[] | undefined {
  const leads: number[] = [];
  for (const p of paths) {
    if (p === false) continue;
    if (p.length < 2) return undefined;
    leads.push(p.charCodeAt(1), p.length > 2 ? p.charCodeAt(2) : -1);
  }
  return leads;
}

export function nodeGate(headroom: Headroom, options: Omit<NodeMiddlewareOptions, 'beforeNext'> = {}): NodeGate {
  const { health, metrics, admin } = resolveNodeRoutes('nodeMiddleware', {
    health: options.health,
    metrics: options.metrics,
    admin: options.admin,
  });
  const urlOf = options.url ?? requestUrl;
  const clientOf = options.client ?? clientAddress;
  const { ignoreCase } = options;
  const probes = new Map<string, () => PlainResponse>();
  if (health !== false) {
    const report = (): PlainResponse => headroom.health();
    // `/health/` answers as `/health` (as Fastify's prefixed routes do); the probes below it are exact.
    probes.set(health, report);
    probes.set(`${health}/`, report);
    probes.set(`${health}/live`, () => headroom.live());
    probes.set(`${health}/ready`, () => headroom.ready());
  }
  const metricsSlash = metrics === false ? false : `${metrics}/`;
  const adminPrefix = admin === false ? undefined : `${admin}/`;
  const byConnection = options.server !== undefined && headroom.countServer(options.server);
  /** A response headroom writes itself: not the app's request, not counted in flight. */
  const own = (res: ServerResponse): void => {
    if (byConnection) headroom.uncount(res);
  };
  // Most requests are the app's: two character codes tell them apart from every own path, before
  // the path is cut from the URL or compared (each a call into V8's string builtins).
  const leads = leadsOf([health, metrics, admin]);
  const mayBeOwn = (url: string): boolean => {
    if (leads === undefined) return true;
    const a = url.charCodeAt(1);
    const b = url.charCodeAt(2);
    for (let i = 0; i < leads.length; i += 2) if (a === leads[i] && (leads[i + 1] === -1 || b === leads[i + 1])) return true;
    return false;
  };

  /** Answers health, metrics and the admin API; false when the request is none of them. */
  const answerOwn = (req: NodeRequest, res: ServerResponse, url: string): boolean => {
    const method = req.method ?? 'GET';
    const path = pathOf(url);
    if (method === 'GET' || method === 'HEAD') {
      // The prefix test first: an app's path is rejected at its first differing character, without
      // hashing the (new on every request) path string for the map.
      const probe = health !== false && path.startsWith(health) ? probes.get(path) : undefined;
      if (probe) {
        own(res);
        writePlain(res, probe(), method);
        return true;
      }
      if (path === metrics || path === metricsSlash) {
        own(res);
        headroom.metrics(req.headers.authorization).then(
          (r) => writePlain(res, r, method),
          (err: unknown) => writePlain(res, errorResponse(err), method),
        );
        return true;
      }
    }
    if (adminPrefix && (path === admin || path.startsWith(adminPrefix))) {
      own(res);
      headroom
        .admin(adminRequestFromUrl(method, url.slice(adminPrefix.length - 1), req.headers.authorization, clientOf(req), req.headers))
        .then(
          (r) => writePlain(res, r, method),
          (err: unknown) => writePlain(res, errorResponse(err), method),
        );
      return true;
    }
    return false;
  };

  return (req, res) => {
    let url = urlOf(req);
    if (url.charCodeAt(0) !== 47 /* / */) url = originForm(url); // absolute-form: http://host/health
    if (mayBeOwn(url) && answerOwn(req, res, url)) return false;
    // The common case (healthy, not draining) is decided without cutting the path from the URL.
    if (headroom.wouldShed()) {
      const refused = headroom.shed(pathOf(url), ignoreCase?.(req));
      if (refused) {
        own(res);
        // Its body is never read: the connection ends after the answer (else Node reads and
        // discards all of it, and the client goes on sending, while memory is short).
        if (declaresBody(req)) res.setHeader('connection', 'close');
        writePlain(res, refused, req.method ?? 'GET');
        return false;
      }
    }
    if (!byConnection) headroom.countRequest(req, res);
    return true;
  };
}

export function nodeMiddleware(headroom: Headroom, options: NodeMiddlewareOptions = {}): NodeMiddleware {
  const gate = nodeGate(headroom, options);
  const { beforeNext } = options;
  const urlOf = options.url ?? requestUrl;
  return (req, res, next) => {
    if (!gate(req, res)) return;
    if (beforeNext) beforeNext(req, pathOf(originForm(urlOf(req))));
    next();
  };
}
