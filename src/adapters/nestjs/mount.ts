// Where Nest really mounted headroom's proxy controller (global prefix, exclusions, versioning and
// RouterModule included), and whether one of the app's own routes lies under it. Decided from the
// routes the platform registered, once they are all registered (onModuleInit), because the early
// middleware keeps request bodies under that mount away from Nest's body parser: an app route
// there would silently get no body, so start-up stops instead, naming the route and the fix.
import type { HttpServer } from '@nestjs/common';
import { HeadroomError } from '../../errors.js';
import { decodeUnreserved } from '../../proxy/path.js';
import {
  describeShadowed,
  expressRoutes,
  methodsLabel,
  segments,
  type ExpressLayer,
  type RegisteredRoute,
  type ShadowedRoute,
} from '../../toolkit/shadowed-routes.js';

/**
 * The wildcard below a controller's path in the platform's router syntax: Express 5 (path-to-regexp
 * 8) needs a named one ('*path'; '*' is converted with a warning), Fastify's find-my-way takes only
 * '*' (a named one throws "Wildcard must be the last character"). Nest passes controller paths to
 * the platform's router unchanged, so the platform decides.
 */
export function wildcard(platform: string | undefined): string {
  return platform === 'fastify' ? '*' : '*path';
}

/**
 * Shared between the module's parts: the proxy controller's full mount, known once routes are
 * registered, and the paths whose request bodies are kept from the parser for a proxy — that mount
 * and those of the app's own proxy routes (proxyHandler({ mount })).
 */
export interface ProxyWiring {
  mount: string | undefined;
  /** Paths under a kept path, at a segment boundary (case-insensitive where the platform routes so). */
  under: RegExp | undefined;
  /** The platform routes paths case-insensitively (Express's default): the mount is matched so too. */
  caseInsensitive?: boolean;
  /** The full paths whose bodies are kept from the parser. */
  kept: string[];
  /** proxyHandler({ mount }) mounts given before the routes were known, as given (placed at start-up). */
  handlerMounts: string[];
  /** Set once the routes are known: places a proxyHandler mount given from then on at once. */
  place?: (mount: string) => void;
}

export const newWiring = (): ProxyWiring => ({ mount: undefined, under: undefined, kept: [], handlerMounts: [] });

/**
 * Whether `path` goes to the proxy's mount, so that its body is kept from the parser. Spelt with
 * percent-encoded letters (/%61pi) too: Fastify's router decodes them and routes there, and a
 * body parsed meanwhile could not be forwarded (Express does not route it: 404, body unused).
 */
export function underProxy(wiring: ProxyWiring, path: string): boolean {
  const under = wiring.under;
  if (under === undefined) return false;
  return under.test(path) || (path.includes('%') && under.test(decodeUnreserved(path)));
}

/** Keeps the bodies of requests at or under `paths` from the parser from now on. */
export function keepBodies(wiring: ProxyWiring, paths: readonly string[], caseInsensitive: boolean): void {
  for (const p of paths) if (!wiring.kept.includes(p)) wiring.kept.push(p);
  wiring.caseInsensitive = caseInsensitive;
  if (wiring.kept.length === 0) return;
  const alternatives = wiring.kept.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  wiring.under = new RegExp(`^(?:${alternatives})(?:/|$)`, caseInsensitive ? 'i' : '');
}

/** Sets the proxy controller's mount once it is known. */
export function wire(wiring: ProxyWiring, mount: string, caseInsensitive: boolean): void {
  wiring.mount = mount;
  keepBodies(wiring, [mount], caseInsensitive);
}

/** Whether a route of these segments can take a request under a mount of these: each mount segment matched literally or by a :param. */
const reachesUnder = (route: readonly string[], mount: readonly string[]): boolean =>
  route.length >= mount.length && mount.every((seg, k) => route[k] === seg || route[k]!.startsWith(':'));

/** The rest of a route path after a mount that makes it the mount's catch-all: '', '/*path', '/*', '{/*path}'. */
const CATCH_ALL = /^(?:\/\*\w*|\{\/\*\w*\})?$/;

/**
 * Where Nest registered the app's routes for proxyHandler({ mount: given }): the mount with the
 * global prefix in front and without it (the two the handler accepts), those that have routes at
 * or under them; and the routes under them other than a catch-all at the mount itself, which would
 * lose their bodies.
 */
export function placeHandlerMount(
  routes: RegisteredRoute[],
  given: string,
  globalPrefix: string,
  caseInsensitive: boolean,
): { paths: string[]; conflicts: RegisteredRoute[] } {
  const norm = (s: string): string => (caseInsensitive ? s.toLowerCase() : s);
  const candidates = [...new Set([joinPath(globalPrefix, given), joinPath(given)])];
  const paths: string[] = [];
  const conflicts = new Set<RegisteredRoute>();
  for (const mount of candidates) {
    const m = norm(mount);
    // Placed where the app registered routes at or under the mount itself (the handler's own).
    if (!routes.some((r) => norm(r.path) === m || norm(r.path).startsWith(`${m}/`) || norm(r.path).startsWith(`${m}{`))) continue;
    paths.push(mount);
    // Any route that can take a request under it (literal or :param segments, as routesUnder
    // reads them) loses its body, but a catch-all at the mount itself: the handler's.
    const ms = segments(m);
    for (const r of routes) {
      if (r.method === 'HEAD') continue;
      const p = norm(r.path);
      if (p.startsWith(m) && CATCH_ALL.test(p.slice(m.length))) continue;
      const rs = segments(p);
      if (reachesUnder(rs, ms)) conflicts.add(r);
    }
  }
  return { paths, conflicts: [...conflicts] };
}

interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: { method: string | string[]; url: string }) => void): unknown;
}
interface ExpressLike {
  router?: { stack?: ExpressLayer[] };
}

/**
 * Starts listening for the platform's routes and returns a function listing them. Fastify only tells
 * through onRoute, which must be added before Nest registers its routes (while it creates the
 * providers, as here); Express keeps them in its router's stack.
 */
export function routeRecorder(adapter: HttpServer): () => RegisteredRoute[] {
  const instance: unknown = adapter.getInstance();
  if (adapter.getType() === 'fastify') {
    const seen: RegisteredRoute[] = [];
    (instance as FastifyLike).addHook('onRoute', (route) => {
      const method = Array.isArray(route.method) ? methodsLabel(route.method) : route.method;
      seen.push({ method, path: route.url });
    });
    return () => seen;
  }
  return () => expressRoutes((instance as ExpressLike).router?.stack ?? []);
}

/** '/' + the non-empty parts joined by single slashes: ('api', '/v1/') → '/api/v1'. */
export function joinPath(...parts: string[]): string {
  const segs = parts.flatMap((p) => p.split('/')).filter(Boolean);
  return `/${segs.join('/')}`;
}

/** The full path Nest registered the proxy controller at, or undefined when it cannot be found. */
export function findProxyMount(
  routes: RegisteredRoute[],
  controllerPath: string,
  globalPrefix: string,
  platform: string,
): string | undefined {
  const paths = new Set(routes.map((r) => r.path));
  const wild = wildcard(platform);
  const registered = (mount: string): boolean => paths.has(mount) && paths.has(`${mount}/${wild}`);
  for (const mount of [joinPath(globalPrefix, controllerPath), controllerPath]) if (registered(mount)) return mount;
  // URI versioning or RouterModule put something in front of the controller's path.
  for (const p of paths) if (p.endsWith(controllerPath) && registered(p)) return p;
  return undefined;
}

/**
 * The app's routes that could take a request under `mount`: literal or parameter segments all the
 * way down (a catch-all wildcard is the app's fallback and is not counted). headroom's own two proxy
 * routes are left out.
 */
export function routesUnder(routes: RegisteredRoute[], mount: string, platform: string, caseInsensitive: boolean): RegisteredRoute[] {
  const ours = [mount, `${mount}/${wildcard(platform)}`];
  const norm = (s: string): string => (caseInsensitive ? s.toLowerCase() : s);
  const ms = segments(norm(mount));
  const out: RegisteredRoute[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const i = ours.indexOf(r.path);
    if (i !== -1) {
      ours.splice(i, 1);
      continue;
    }
    const rs = segments(norm(r.path));
    if (!reachesUnder(rs, ms)) continue;
    const key = `${r.method} ${r.path}`;
    if (r.method !== 'HEAD' && !seen.has(key)) {
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

/** 'POST /api/items, GET /api/x and 3 more': the first five routes of a message. */
function listRoutes(routes: readonly RegisteredRoute[]): string {
  const shown = routes
    .slice(0, 5)
    .map((r) => `${r.method} ${r.path}`)
    .join(', ');
  return routes.length > 5 ? `${shown} and ${routes.length - 5} more` : shown;
}

export function routesUnderMountError(conflicts: RegisteredRoute[], mount: string): HeadroomError {
  const list = listRoutes(conflicts);
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `HeadroomModule: the app's route ${list} lies under the proxy's mount ${mount}. headroom keeps request bodies under ${mount} away from Nest's body parser for the proxy, so that route would receive no body. Move the proxy with routes: { proxy: '/upstream' } in HeadroomModule.forRoot() or forRootAsync() (the upstream still receives what follows the mount), or move the route.`,
  );
}

export function handlerRoutesUnderError(conflicts: RegisteredRoute[], given: string, mount: string): HeadroomError {
  const list = listRoutes(conflicts);
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `HeadroomModule: the app's route ${list} lies under ${mount}, where proxyHandler({ mount: '${given}' }) forwards. headroom keeps request bodies under ${mount} away from Nest's body parser for the proxy, so that route would receive no body. Move that route from under ${mount}, or, if it is meant to forward too, fold it into the handler's catch-all route at ${mount} (@All('*path'); on platform-fastify @All('*')).`,
  );
}

export function routesShadowedError(conflicts: ShadowedRoute[]): HeadroomError {
  const { routes, move, off } = describeShadowed(conflicts);
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `HeadroomModule: the app's route ${routes} is answered by headroom before Nest routes it, so it would never be reached. Move headroom's path with ${move} in HeadroomModule.forRoot() or forRootAsync(), turn it off with ${off}, or move the route.`,
  );
}
