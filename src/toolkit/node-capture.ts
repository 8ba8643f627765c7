// The capped body capture (src/log/capture.ts) and request accounting (src/log/accounting.ts) as
// (req, res, next) middleware: Express, Connect and NestJS (app.use on either platform) all take
// them. Mount first, before body parsers.
import type { RequestAccounting } from '../log/accounting.js';
import type { BodyCapture } from '../log/capture.js';
import type { NodeMiddleware, NodeRequest } from './node-middleware.js';
import { HeadroomError } from '../errors.js';
import { kindOf } from '../options/spec.js';
import { UNMATCHED_ROUTE } from '../observe/route-labels.js';

const invalid = (message: string): HeadroomError => new HeadroomError('HEADROOM_CONFIG_INVALID', message);

function checked(capture: BodyCapture | undefined, call: string): void {
  if (capture !== undefined && (!capture || typeof capture.tap !== 'function'))
    throw invalid(`${call}: capture must be made by createBodyCapture({ logger }) or createBodyCapture({ onCapture })`);
}

export function captureMiddleware(capture: BodyCapture): NodeMiddleware {
  checked(capture, 'captureMiddleware(capture)');
  if (!capture) throw invalid('captureMiddleware(capture): capture is required (createBodyCapture({ logger }))');
  return (req, res, next) => {
    capture.tap(req, res);
    next();
  };
}

/** What routeOf reads of Express's (router 1.x/2.x) routers and layers. */
interface RouterLike {
  stack?: LayerLike[];
}
interface LayerLike {
  route?: unknown;
  handle?: RouterLike;
  rawPath?: unknown;
  /** Mounted at the root: takes no part of the path. */
  slash?: boolean;
  /** router 2.x: one matcher per path, each `(path) => false | { path }`. */
  matchers?: ((path: string) => false | { path: string })[];
}
type RoutedRequest = NodeRequest & { route?: { path?: unknown }; app?: { router?: RouterLike; _router?: RouterLike } };

/**
 * Express's route template once routed (`/users/:id/posts/:pid`, mount paths included);
 * 'unmatched' otherwise. req.baseUrl is the mount path as matched, values and all
 * (`/users/1000`): a label from it would grow with every id a client sends.
 */
export function routeOf(req: RoutedRequest): string {
  const path = routePathText(req.route?.path);
  if (path === undefined) return UNMATCHED_ROUTE;
  const base = req.baseUrl ?? '';
  return base === '' ? path : `${mountTemplate(req, base) ?? MOUNT}${path}`;
}

/** A route's path as the app wrote it: a string, a RegExp, or an array of those (`/a | /b`). */
function routePathText(path: unknown): string | undefined {
  if (typeof path === 'string') return path;
  if (path instanceof RegExp) return String(path);
  if (Array.isArray(path) && path.length > 0 && path.every((p) => typeof p === 'string' || p instanceof RegExp))
    return path.map((p: string | RegExp) => String(p)).join(' | ');
  return undefined;
}

/** Stands for a mount path whose template cannot be found (a RegExp mount, an unknown router). */
const MOUNT = '/(mount)';

/** The templates of the mount paths that matched `base`, from the app's router down; undefined when not found. */
function mountTemplate(req: RoutedRequest, base: string): string | undefined {
  return templateUnder(req.app?.router ?? req.app?._router, base, 0, req.route);
}

/** Whether `route` is one of `router`'s own, or of a router mounted at its root. */
function holds(router: RouterLike | undefined, route: unknown, depth: number): boolean {
  if (depth > 16) return false;
  for (const layer of router?.stack ?? []) {
    if (layer.route !== undefined ? layer.route === route : layer.slash === true && holds(layer.handle, route, depth + 1)) return true;
  }
  return false;
}

/**
 * Depth first through the routers mounted in `router` whose path matches the start of `rest`,
 * in their order: a router mounted at the root (`app.use(router)`) takes no part of the path, so
 * the mount may be inside it, or not (then the search goes on after it).
 */
function templateUnder(router: RouterLike | undefined, rest: string, depth: number, route: unknown): string | undefined {
  // The whole mount path is matched: the template is this one only if the route is in this router
  // (an earlier mount with a parameter, `/:tenant`, matches `/files` too).
  if (rest === '') return holds(router, route, depth) ? '' : undefined;
  if (depth > 16) return undefined;
  for (const layer of router?.stack ?? []) {
    if (layer.route !== undefined || !Array.isArray(layer.handle?.stack) || !layer.matchers) continue;
    const raws = Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath];
    for (let i = 0; i < layer.matchers.length; i++) {
      // A router mounted at the root matches every path (router checks `slash` before its matcher).
      const m = layer.slash === true ? { path: '' } : layer.matchers[i]!(rest);
      if (!m) continue;
      const matched = m.path.replace(/\/$/, '');
      const raw = raws[i];
      const inner = templateUnder(layer.handle, rest.slice(matched.length), depth + 1, route);
      if (inner === undefined) continue;
      return matched === '' ? inner : `${typeof raw === 'string' ? raw.replace(/\/$/, '') : MOUNT}${inner}`;
    }
  }
  return undefined;
}

/**
 * Opens a ledger for each request and runs the rest of the app inside it (so any part can
 * `accounting.charge(n)`), charges the captured bodies when `capture` is given, and ends the
 * ledger — releasing whatever it still holds — when the response closes, aborted or not.
 * `route` (optional) names the request's route when the Express template is not known (the NestJS
 * module passes the handler its interceptor saw). It runs when the response has closed, where an
 * error could only crash the process: a `route` that throws or returns anything but a string
 * leaves the request to the template, as undefined does.
 */
export function accountingMiddleware(
  accounting: RequestAccounting,
  capture?: BodyCapture,
  route?: (req: NodeRequest) => string | undefined,
): NodeMiddleware {
  if (!accounting || typeof accounting.open !== 'function')
    throw invalid('accountingMiddleware(accounting): accounting must be made by createRequestAccounting()');
  checked(capture, 'accountingMiddleware(accounting, capture)');
  if (route !== undefined && typeof route !== 'function')
    throw invalid(
      `accountingMiddleware(accounting, capture, route): route must be a function (req) => string | undefined; got ${kindOf(route)}`,
    );
  const named = (req: NodeRequest): string | undefined => {
    try {
      const r = route?.(req);
      return typeof r === 'string' ? r : undefined;
    } catch {
      return undefined;
    }
  };
  // Runs in a 'close' listener, where a throw would crash the process: a router shape we do not
  // know (routeOf reads Express's internals) leaves the request 'unmatched' instead.
  const template = (req: NodeRequest): string => {
    try {
      return routeOf(req);
    } catch {
      return UNMATCHED_ROUTE;
    }
  };
  return (req, res, next) => {
    const ledger = accounting.open();
    capture?.tap(req, res, (delta) => ledger.charge(delta));
    res.once('close', () => ledger.end(named(req) ?? template(req)));
    accounting.run(ledger, next);
  };
}
