// Who a request comes from, for per-client limits (the proxy's admission) and the admin rate limit.
import type { IncomingMessage } from 'node:http';

/** req.ip (Express honours `trust proxy`; @fastify/middie copies Fastify's), else the socket's address. */
export function clientAddress(req: IncomingMessage & { ip?: string }): string {
  return req.ip ?? req.socket?.remoteAddress ?? 'unknown';
}
