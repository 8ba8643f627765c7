// Connect-style middleware on Node's req/res, for every framework that speaks it (Express, Connect,
// NestJS middleware on either platform): answers health, metrics and the admin API, sheds the
// app's requests while memory is critical or the app drains, and counts the rest in flight until
// their response finishes or their connection closes (so an aborted request gives its slot back).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOrOff, resolveOptions } from '../options/spec.js';
import { clientAddress } from '../proxy/client.js';
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
  return resolveOptions(factory, nodeRouteSpecs, paths);
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
  const hops = header.split(',');
  for (let hop = 0; trust(address, hop) && hop < hops.length; hop++) address = hops[hops.length - 1 - hop]!.trim();
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
 * What nodeMiddleware does before next(), for callers that are not a middleware chain (a request
 * listener in front of an app): answers health, metrics, the admin API and shed requests itself
 * and returns undefined, or counts the request in flight and returns its path.
 */
export type NodeGate = (req: NodeRequest, res: ServerResponse) => string | undefined;

export function nodeGate(headroom: Headroom, options: Omit<NodeMiddlewareOptions, 'beforeNext'> = {}): NodeGate {
  const { health, metrics, admin } = resolveNodeRoutes('nodeMiddleware', {
    health: options.health,
    metrics: options.metrics,
    admin: options.admin,
  });
  const urlOf = options.url ?? requestUrl;
  const clientOf = options.client ?? clientAddress;
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

  return (req, res) => {
    const method = req.method ?? 'GET';
    const url = urlOf(req);
    const path = pathOf(url);
    const read = method === 'GET' || method === 'HEAD';
    if (read) {
      // The prefix test first: an app's path is rejected at its first differing character, without
      // hashing the (new on every request) path string for the map.
      const probe = health !== false && path.startsWith(health) ? probes.get(path) : undefined;
      if (probe) {
        own(res);
        return void writePlain(res, probe(), method);
      }
      if (path === metrics || path === metricsSlash) {
        own(res);
        headroom.metrics().then(
          (r) => writePlain(res, r, method),
          (err: unknown) => writePlain(res, errorResponse(err), method),
        );
        return undefined;
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
      return undefined;
    }
    const refused = headroom.shed(path);
    if (refused) {
      own(res);
      return void writePlain(res, refused, method);
    }
    if (!byConnection) headroom.countRequest(req, res);
    return path;
  };
}

export function nodeMiddleware(headroom: Headroom, options: NodeMiddlewareOptions = {}): NodeMiddleware {
  const gate = nodeGate(headroom, options);
  const beforeNext = options.beforeNext;
  return (req, res, next) => {
    const path = gate(req, res);
    if (path === undefined) return;
    if (beforeNext) beforeNext(req, path);
    next();
  };
}
