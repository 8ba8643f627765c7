// Per-route heap attribution (src/log/route-heap.ts) as (req, res, next) middleware for Express
// and Connect: when the response closes it counts the request under its route template and hands
// over the route's handler functions, whose allocations are then charged to it. Only apps that
// mount it pay for it (one 'close' listener a request).
import type { RouteHandler, RouteHeapAttribution } from '../log/route-heap.js';
import { routeOf } from './node-capture.js';
import type { NodeMiddleware, NodeRequest } from './node-middleware.js';
import { HeadroomError } from '../errors.js';

type RoutedRequest = NodeRequest & { route?: { path?: unknown; stack?: { handle?: unknown }[] } };

/** The functions Express routed this request to (the route's own handlers, not app-wide middleware). */
function handlersOf(req: RoutedRequest, cache: WeakMap<object, RouteHandler[]>): RouteHandler[] {
  const route = req.route;
  if (!route || typeof route !== 'object' || !Array.isArray(route.stack)) return [];
  let handlers = cache.get(route); // a route's handlers are fixed once it is defined: found once, not per request
  if (!handlers) {
    handlers = route.stack.map((layer) => layer?.handle).filter((fn): fn is RouteHandler => typeof fn === 'function');
    cache.set(route, handlers);
  }
  return handlers;
}

export function routeHeapMiddleware(attribution: RouteHeapAttribution): NodeMiddleware {
  if (!attribution || typeof attribution.count !== 'function' || typeof attribution.report !== 'function')
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      'routeHeapMiddleware(attribution): attribution must be made by createRouteHeapAttribution()',
    );
  const cache = new WeakMap<object, RouteHandler[]>();
  return (req: RoutedRequest, res, next) => {
    res.once('close', () => attribution.count(routeOf(req), handlersOf(req, cache)));
    next();
  };
}
