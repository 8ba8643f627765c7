// Proxying from a framework that hands over Node's req/res (Express, Connect, NestJS). Two things
// such frameworks do that would otherwise break the proxy silently are checked here: a body parser
// that already read the request body, and a mount path that was already cut from req.url.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeadroomError } from '../errors.js';
import type { Proxy } from '../proxy/proxy.js';
import { declaresBody, sendError } from '../proxy/respond.js';
import { handOverIp } from '../proxy/client.js';

const consumed = new HeadroomError(
  'HEADROOM_BODY_CONSUMED',
  'the request body was already read by a body parser, so it cannot be forwarded: mount the headroom proxy before body parsers (express.json(), NestJS bodyParser), or exclude its path from them',
);

/** True when something read (part of) a body the request declares: forwarding it would send it empty. */
export function bodyConsumed(req: IncomingMessage & { _body?: unknown }): boolean {
  return declaresBody(req) && (req.readableDidRead || req.readableEnded || req._body === true);
}

/**
 * Proxies req with its full URL (`url`, e.g. Express's req.originalUrl), so the proxy's prefix
 * rules see the path the client sent whatever mount path the framework stripped. `ip`: the
 * framework's client address (Fastify's request.ip) for the per-client limit, where req has none.
 */
export function proxyNodeRequest(proxy: Proxy, req: IncomingMessage, res: ServerResponse, url = req.url ?? '/', ip?: string): void {
  if (bodyConsumed(req)) return sendError(res, consumed, false);
  handOverIp(proxy, req, ip);
  proxy.handle(req, res, undefined, url);
}
