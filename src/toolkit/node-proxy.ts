// Proxying from a framework that hands over Node's req/res (Express, Connect, NestJS), with the URL
// the client sent (such frameworks cut their mount path from req.url). A body a parser already read
// is refused by proxy.handle() itself (bodyConsumed, in respond.ts), whoever calls it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Proxy } from '../proxy/proxy.js';
import { handOverIp } from '../proxy/client.js';

export { bodyConsumed } from '../proxy/respond.js';

/**
 * Proxies req with its full URL (`url`, e.g. Express's req.originalUrl), so the proxy's prefix
 * rules see the path the client sent whatever mount path the framework stripped. `ip`: the
 * framework's client address (Fastify's request.ip) for the per-client limit, where req has none.
 */
export function proxyNodeRequest(proxy: Proxy, req: IncomingMessage, res: ServerResponse, url = req.url ?? '/', ip?: string): void {
  handOverIp(proxy, req, ip);
  proxy.handle(req, res, undefined, url);
}
