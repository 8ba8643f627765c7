// Who a request comes from, for per-client limits (the proxy's admission) and the admin rate limit.
import type { IncomingMessage } from 'node:http';

/** req.ip (Express honours `trust proxy`; @fastify/middie copies Fastify's), else the socket's address. */
export function clientAddress(req: IncomingMessage & { ip?: string }): string {
  return req.ip ?? req.socket?.remoteAddress ?? 'unknown';
}

/** The URL the client sent (Express and @fastify/middie keep it in originalUrl when they cut or rewrite url). */
export function originalUrl(req: IncomingMessage & { originalUrl?: string }): string {
  return req.originalUrl ?? req.url ?? '/';
}

/**
 * Hands a framework's client address (Fastify's request.ip, its trustProxy applied) to the proxy as
 * req.ip, as @fastify/middie does — only while the per-client limit is on: a property added to
 * IncomingMessage changes its shape for every lookup after it.
 */
export function handOverIp(proxy: { readonly limitsClients: boolean }, req: IncomingMessage, ip: string | undefined): void {
  if (ip !== undefined && proxy.limitsClients) (req as IncomingMessage & { ip?: string }).ip = ip;
}
