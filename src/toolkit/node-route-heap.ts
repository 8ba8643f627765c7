// Per-route heap attribution (src/log/route-heap.ts) as (req, res, next) middleware for Express
// and Connect: when the response closes it counts the request under its route template and hands
// over the route's handler functions, whose allocations are then charged to it. Only apps that
// mount it pay for it (one 'close' listener a request).
import type { RouteHandler, RouteHeapAttribution } from '../log/route-heap.js';
import { routeOf } from './node-capture.js';
import type { NodeMiddleware, NodeRequest } from './node-middleware.js';

type RoutedRequest = NodeRequest & { route?: { path?: unknown; stack?: { handle?: unknown }[] } };

/** The functions Express routed this request to (the route's own handlers, not app-wide middleware). */
function handlersOf(req: RoutedRequest): RouteHandler[] {
  const stack = req.route?.stack;
  if (!Array.isArray(stack)) return [];
  return stack.map((layer) => layer?.handle).filter((fn): fn is RouteHandler => typeof fn === 'function');
}

export function routeHeapMiddleware(attribution: RouteHeapAttribution): NodeMiddleware {
  if (!attribution || typeof attribution.count !== 'function' || typeof attribution.report !== 'function')
    throw new TypeError('routeHeapMiddleware(attribution): attribution must be made by createRouteHeapAttribution()');
  return (req: RoutedRequest, res, next) => {
    res.once('close', () => attribution.count(routeOf(req), handlersOf(req)));
    next();
  };
}
