// NestJS hands a route handler the platform's own request and response: Express's (which are
// Node's IncomingMessage/ServerResponse) or Fastify's wrappers (with the Node objects on `.raw`).
// headroom's parts work on the Node objects, so these helpers unwrap either.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An Express request, a Fastify request, or a Node request. */
export type AnyRequest = IncomingMessage | { raw: IncomingMessage };
/** An Express response, a Fastify reply, or a Node response. */
export type AnyResponse = ServerResponse | { raw: ServerResponse; hijack?: () => unknown };

type WithOriginalUrl = IncomingMessage & { originalUrl?: string };

export function rawRequest(req: AnyRequest): WithOriginalUrl {
  return ('raw' in req && req.raw ? req.raw : req) as WithOriginalUrl;
}

/** The Node response; a Fastify reply is hijacked first, so Fastify leaves the response to us. */
export function rawResponse(res: AnyResponse): ServerResponse {
  if ('raw' in res && res.raw) {
    res.hijack?.();
    return res.raw;
  }
  return res as ServerResponse;
}

export { originalUrl } from '../../proxy/client.js';
