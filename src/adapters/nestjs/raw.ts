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

/** The URL the client sent (Express and @fastify/middie keep it in originalUrl when they rewrite url). */
export function originalUrl(req: WithOriginalUrl): string {
  return req.originalUrl ?? req.url ?? '/';
}

export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The URL as the proxy expects it: `prefix` + what follows `mount` in the client's URL, byte for
 * byte (query included). The mount is looked up at a segment boundary, so a global prefix in
 * front of it (/v1/api/x) is dropped too. Without the mount in the URL it is returned unchanged.
 */
export function remount(url: string, mount: string, prefix: string): string {
  if (mount === prefix && url.startsWith(prefix)) return url;
  const path = pathOf(url);
  let at = -1;
  for (let i = path.indexOf(mount); i !== -1; i = path.indexOf(mount, i + 1)) {
    const end = path.charCodeAt(i + mount.length);
    // Preceded by a segment start, followed by '/' or the end of the path.
    if ((i === 0 || path[i - 1] === '/' || mount.startsWith('/')) && (Number.isNaN(end) || end === 47)) {
      at = i;
      break;
    }
  }
  return at === -1 ? url : prefix + url.slice(at + mount.length);
}
