// The middleware headroom puts in front of everything else on the platform (Express app or
// Fastify's middie), before Nest's body parser, the app's middleware, guards and controllers. It is
// the toolkit's nodeMiddleware (health, live, ready, metrics and the admin API, never shed and never
// behind the app's auth; shedding; in-flight counting) with two NestJS specifics:
// - the URL is the one the client sent (middie may rewrite req.url; it keeps originalUrl);
// - requests under the proxy controller's mount have their body kept away from body parsers
//   (body.ts). The mount is known once Nest has registered its routes (mount.ts).
import type { Headroom } from '../../toolkit/headroom.js';
import { nodeMiddleware, type NodeMiddleware, type NodeRoutePaths } from '../../toolkit/node-middleware.js';
import { hideBody } from './body.js';
import type { ProxyWiring } from './mount.js';
import { originalUrl } from './raw.js';

export function createEarlyMiddleware(headroom: Headroom, routes: Required<NodeRoutePaths>, wiring: ProxyWiring): NodeMiddleware {
  return nodeMiddleware(headroom, {
    ...routes,
    url: originalUrl,
    beforeNext(req, path) {
      if (wiring.under?.test(path)) hideBody(req);
    },
  });
}
