// The app's routes that headroom's own paths (health and its probes, metrics, the admin API) answer
// in their place, so they are never reached. The NestJS module refuses to start on them; the
// Express middleware, which sees the app's routes only once a request arrives, warns then.

/** A route as the framework registered it: 'GET', 'GET,POST' or 'ALL', and its path pattern. */
export interface RegisteredRoute {
  method: string;
  path: string;
}

/** A route of the app that headroom answers in its place, and the option that moves headroom's path. */
export interface ShadowedRoute extends RegisteredRoute {
  option: 'health' | 'metrics' | 'admin';
  at: string;
}

/** A path's non-empty segments: '/a//b/' → ['a', 'b']. */
export const segments = (path: string): string[] => path.split('/').filter(Boolean);

/** The layers of an Express router stack (app.router.stack) the way Express 5 keeps them. */
export interface ExpressLayer {
  handle?: unknown;
  route?: { path?: unknown; methods?: Record<string, boolean> };
}

/** A route's methods for a message: 'GET', 'GET,POST', or 'ALL' for a route of every method (Nest's @All lists each). */
export const methodsLabel = (methods: readonly string[]): string => (methods.length > 6 ? 'ALL' : methods.join(',').toUpperCase());

/** The routes (app.get, app.all, …) among Express router layers; mounted routers and middleware are not routes. */
export function expressRoutes(layers: readonly ExpressLayer[]): RegisteredRoute[] {
  const out: RegisteredRoute[] = [];
  for (const layer of layers) {
    const route = layer.route;
    if (!route) continue;
    const methods = route.methods ?? {};
    const method = methods._all ? 'ALL' : methodsLabel(Object.keys(methods));
    // app.get(['/a', '/b'], …) is one layer with both paths; RegExp paths say nothing literal.
    for (const path of Array.isArray(route.path) ? route.path : [route.path]) if (typeof path === 'string') out.push({ method, path });
  }
  return out;
}

/**
 * The app's routes that headroom answers before the app routes them: under the admin API (any
 * method), GET at the health path or its probes (/live, /ready), GET at the metrics path. Literal
 * segments only (a parameter there, /:slug, is reached for other values); headroom matches exactly,
 * so an app route differing only in case conflicts where the app routes in any case.
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

/**
 * The parts of a message about shadowed routes: the routes (at most five named), and the two fixes
 * as `routes` option text (move headroom's paths; turn them off).
 */
export function describeShadowed(conflicts: ShadowedRoute[]): { routes: string; move: string; off: string } {
  const named = conflicts
    .slice(0, 5)
    .map((r) => `${r.method} ${r.path} (headroom's ${r.option} at ${r.at})`)
    .join(', ');
  const more = conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '';
  const options = [...new Set(conflicts.map((r) => r.option))];
  return {
    routes: named + more,
    move: `routes: { ${options.map((o) => `${o}: '/headroom-${o}'`).join(', ')} }`,
    off: `routes: { ${options.map((o) => `${o}: false`).join(', ')} }`,
  };
}
