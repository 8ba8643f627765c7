// Connect-style middleware on Node's req/res, for every framework that speaks it (Express, Connect,
// NestJS middleware on either platform): answers health, metrics and the admin API, sheds the
// app's requests while memory is critical or the app drains, and counts the rest in flight until
// their response closes (finished or aborted alike, so an aborted request gives its slot back).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse, writePlain, type PlainResponse } from './response.js';
import type { Headroom } from './headroom.js';

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

/** The client address for the admin rate limit: Express's req.ip (honours `trust proxy`), else the socket's. */
export function clientAddress(req: NodeRequest): string {
  return req.ip ?? req.socket?.remoteAddress ?? 'unknown';
}

export function nodeMiddleware(headroom: Headroom, paths: NodeRoutePaths = {}): NodeMiddleware {
  const health = paths.health === undefined ? '/health' : paths.health;
  const metrics = paths.metrics === undefined ? '/metrics' : paths.metrics;
  const admin = paths.admin === undefined ? '/admin' : paths.admin;
  const probes = new Map<string, () => PlainResponse>();
  if (health !== false) {
    probes.set(health, () => headroom.health());
    probes.set(`${health}/live`, () => headroom.live());
    probes.set(`${health}/ready`, () => headroom.ready());
  }
  const adminPrefix = admin === false ? undefined : `${admin}/`;

  // Runs for every request of the app: no allocation beyond the path (only when there is a query)
  // and track()'s release function.
  return (req, res, next) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const read = method === 'GET' || method === 'HEAD';
    if (read) {
      const probe = probes.get(path);
      if (probe) return writePlain(res, probe(), method);
      if (path === metrics) {
        headroom.metrics().then(
          (r) => writePlain(res, r, method),
          (err: unknown) => writePlain(res, errorResponse(err), method),
        );
        return;
      }
    }
    if (adminPrefix && (path === admin || path.startsWith(adminPrefix))) {
      headroom
        .admin({
          method,
          path: path.slice(adminPrefix.length - 1) || '/',
          query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
          authorization: req.headers.authorization,
          client: clientAddress(req),
        })
        .then(
          (r) => writePlain(res, r, method),
          (err: unknown) => writePlain(res, errorResponse(err), method),
        );
      return;
    }
    const refused = headroom.shed(path);
    if (refused) return writePlain(res, refused, method);
    // 'close' fires once per response, finished or aborted; on() spares once()'s wrapper (the
    // release function is idempotent anyway).
    res.on('close', headroom.track());
    next();
  };
}
