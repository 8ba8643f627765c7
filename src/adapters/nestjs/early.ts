// The middleware headroom puts in front of everything else on the platform (Express app or
// Fastify's middie), before Nest's body parser, the app's middleware, guards and controllers:
// - answers health, live, ready, metrics and the admin API (never shed, never behind the app's auth);
// - sheds the app's requests (503 + Retry-After) while memory is critical or the app drains;
// - counts the app's requests in flight, released on the response's 'close' (aborts included);
// - keeps the body of requests under the proxy mount away from body parsers (body.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Headroom } from '../../toolkit/headroom.js';
import { writePlain } from '../../toolkit/response.js';
import { hideBody } from './body.js';
import { originalUrl, pathOf } from './raw.js';

export interface EarlyRoutes {
  health: string | false;
  metrics: string | false;
  admin: string | false;
  /** Paths whose bodies are kept for the proxy. */
  unparsed: string[];
}

type Next = (err?: unknown) => void;

const under = (path: string, prefix: string): boolean =>
  path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47); /* / */

export function createEarlyMiddleware(headroom: Headroom, routes: EarlyRoutes) {
  const { health, metrics, admin, unparsed } = routes;
  const live = health && `${health}/live`;
  const ready = health && `${health}/ready`;
  return function headroomEarly(req: IncomingMessage, res: ServerResponse, next: Next): void {
    const url = originalUrl(req);
    const path = pathOf(url);
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      if (path === health) return writePlain(res, headroom.health(), method);
      if (path === live) return writePlain(res, headroom.live(), method);
      if (path === ready) return writePlain(res, headroom.ready(), method);
      if (path === metrics) {
        headroom.metrics().then(
          (r) => writePlain(res, r, method),
          (err: unknown) => next(err),
        );
        return;
      }
    }
    if (admin && under(path, admin)) {
      const q = url.indexOf('?');
      headroom
        .admin({
          method,
          path: path.slice(admin.length) || '/',
          query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
          authorization: req.headers.authorization,
          client: req.socket.remoteAddress ?? 'unknown',
        })
        .then(
          (r) => writePlain(res, r, method),
          (err: unknown) => next(err),
        );
      return;
    }
    const refused = headroom.shed(path);
    if (refused) return writePlain(res, refused, method);
    // 'close' fires once per response, finished or aborted; on() spares once()'s wrapper (the
    // release function is idempotent anyway).
    res.on('close', headroom.track());
    for (const p of unparsed) {
      if (under(path, p)) {
        hideBody(req);
        break;
      }
    }
    next();
  };
}
