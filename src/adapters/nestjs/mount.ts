// Where Nest really mounted headroom's proxy controller (global prefix, exclusions, versioning and
// RouterModule included), and whether one of the app's own routes lies under it. Decided from the
// routes the platform registered, once they are all registered (onModuleInit), because the early
// middleware keeps request bodies under that mount away from Nest's body parser: an app route
// there would silently get no body, so start-up stops instead, naming the route and the fix.
import type { HttpServer } from '@nestjs/common';
import { HeadroomError } from '../../errors.js';
import { decodeUnreserved } from '../../proxy/path.js';

/**
 * The wildcard below a controller's path in the platform's router syntax: Express 5 (path-to-regexp
 * 8) needs a named one ('*path'; '*' is converted with a warning), Fastify's find-my-way takes only
 * '*' (a named one throws "Wildcard must be the last character"). Nest passes controller paths to
 * the platform's router unchanged, so the platform decides.
 */
export function wildcard(platform: string | undefined): string {
  return platform === 'fastify' ? '*' : '*path';
}

export interface RegisteredRoute {
  method: string;
  path: string;
}

/** Shared between the module's parts: the proxy controller's full mount, known once routes are registered. */
export interface ProxyWiring {
  mount: string | undefined;
  /** Paths under the mount, at a segment boundary (case-insensitive where the platform routes so). */
  under: RegExp | undefined;
  /** The platform routes paths case-insensitively (Express's default): the mount is matched so too. */
  caseInsensitive?: boolean;
}

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

/** Sets the mount once it is known. */
export function wire(wiring: ProxyWiring, mount: string, caseInsensitive: boolean): void {
  wiring.mount = mount;
  wiring.caseInsensitive = caseInsensitive;
  wiring.under = new RegExp(`^${mount.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/|$)`, caseInsensitive ? 'i' : '');
}

interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: { method: string | string[]; url: string }) => void): unknown;
}
interface ExpressLike {
  router?: { stack?: { route?: { path?: unknown; methods?: Record<string, boolean> } }[] };
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
      const method = Array.isArray(route.method) ? (route.method.length > 6 ? 'ALL' : route.method.join(',')) : route.method;
      seen.push({ method, path: route.url });
    });
    return () => seen;
  }
  return () => {
    const out: RegisteredRoute[] = [];
    for (const layer of (instance as ExpressLike).router?.stack ?? []) {
      const route = layer.route;
      if (!route || typeof route.path !== 'string') continue;
      const methods = route.methods ?? {};
      const method = methods._all ? 'ALL' : Object.keys(methods).join(',').toUpperCase();
      out.push({ method, path: route.path });
    }
    return out;
  };
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

const segments = (path: string): string[] => path.split('/').filter(Boolean);

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
    if (rs.length < ms.length || !ms.every((m, k) => rs[k] === m || rs[k]!.startsWith(':'))) continue;
    const key = `${r.method} ${r.path}`;
    if (r.method !== 'HEAD' && !seen.has(key)) {
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

export function routesUnderMountError(conflicts: RegisteredRoute[], mount: string): HeadroomError {
  const list = conflicts
    .slice(0, 5)
    .map((r) => `${r.method} ${r.path}`)
    .join(', ');
  const more = conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '';
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `HeadroomModule: the app's route ${list}${more} lies under the proxy's mount ${mount}. headroom keeps request bodies under ${mount} away from Nest's body parser for the proxy, so that route would receive no body. Move the proxy with routes: { proxy: '/upstream' } in HeadroomModule.forRoot() or forRootAsync() (the upstream still receives what follows the mount), or move the route.`,
  );
}

/** A route of the app that headroom's early routes answer in its place, and the option that moves them. */
export interface ShadowedRoute extends RegisteredRoute {
  option: 'health' | 'metrics' | 'admin';
  at: string;
}

/**
 * The app's routes that headroom's early routes answer before Nest routes them, so they are never
 * reached: under the admin API (any method), GET at the health path or its probes (/live, /ready),
 * GET at the metrics path. Literal segments only (a parameter there, /:slug, is reached for other
 * values); the early routes match exactly, so an app route differing only in case conflicts where
 * the platform routes in any case.
 */
export function routesShadowed(
  routes: RegisteredRoute[],
  own: Record<ShadowedRoute['option'], string | false>,
  caseInsensitive: boolean,
): ShadowedRoute[] {
  const norm = (s: string): string => segments(caseInsensitive ? s.toLowerCase() : s).join('/');
  const at = (option: ShadowedRoute['option'], ...below: string[]): string[] => {
    const path = own[option];
    return path === false ? [] : below.map((b) => norm(`${path}/${b}`));
  };
  const health = at('health', '', 'live', 'ready');
  const metrics = at('metrics', '');
  const [admin] = at('admin', '');
  const out: ShadowedRoute[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    if (r.method === 'HEAD' || seen.has(key)) continue;
    const path = norm(r.path);
    const get = r.method === 'ALL' || r.method.split(',').includes('GET');
    const option =
      admin !== undefined && (path === admin || path.startsWith(`${admin}/`))
        ? 'admin'
        : get && health.includes(path)
          ? 'health'
          : get && metrics.includes(path)
            ? 'metrics'
            : undefined;
    if (!option) continue;
    seen.add(key);
    out.push({ ...r, option, at: own[option] as string });
  }
  return out;
}

export function routesShadowedError(conflicts: ShadowedRoute[]): HeadroomError {
  const list = conflicts
    .slice(0, 5)
    .map((r) => `${r.method} ${r.path} (headroom's ${r.option} at ${r.at})`)
    .join(', ');
  const more = conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '';
  const options = [...new Set(conflicts.map((r) => r.option))];
  const move = options.map((o) => `${o}: '/headroom-${o}'`).join(', ');
  const off = options.map((o) => `${o}: false`).join(', ');
  return new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `HeadroomModule: the app's route ${list}${more} is answered by headroom before Nest routes it, so it would never be reached. Move headroom's path with routes: { ${move} } in HeadroomModule.forRoot() or forRootAsync(), turn it off with routes: { ${off} }, or move the route.`,
  );
}
