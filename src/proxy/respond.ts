// Writes an error straight to a raw Node response: a few hundred bytes, no Fastify objects. When
// the request still has an unread body the connection is closed after the answer, so Node does not
// have to read and discard that body to keep the connection alive. A request id (proxy.handle's
// note) is returned on errors too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeadroomError } from '../errors.js';

const bodies = new WeakMap<HeadroomError, Buffer>();

/** The methods a 405 from the gateway or the proxy offers instead (its Allow header). */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** True when the request says a body follows (a non-zero Content-Length, or Transfer-Encoding). */
export function declaresBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return len !== undefined ? len !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** Answer for a request whose body something in front of the proxy took (bodyConsumed). */
export const bodyConsumedError = new HeadroomError(
  'HEADROOM_BODY_CONSUMED',
  "the request body was already read (or is being read) by something before the proxy, so it cannot be forwarded: mount the headroom proxy before body parsers (express.json(), NestJS bodyParser) and before middleware or hooks that listen to the body's 'data', or exclude its path from them",
);

/**
 * True when something read (part of) a body the request declares, or is set to: forwarding it
 * would send it empty or cut. A middleware that listens for 'data' (a body logger, a checksum) and
 * calls next() at once has read nothing yet, but the stream flows and the chunks go to it.
 */
export function bodyConsumed(req: IncomingMessage & { _body?: unknown }): boolean {
  return (
    declaresBody(req) &&
    (req.readableDidRead ||
      req.readableEnded ||
      req._body === true ||
      req.readableFlowing === true ||
      req.listenerCount('data') > 0 ||
      req.listenerCount('readable') > 0)
  );
}

/** `closeAfter`: Connection: close (the request's body is unread, or the server is draining). */
export function sendError(res: ServerResponse, err: HeadroomError, closeAfter: boolean, requestId?: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  let body = bodies.get(err);
  if (!body) {
    body = Buffer.from(JSON.stringify(err.toJSON()));
    bodies.set(err, body);
  }
  const h = ['content-type', 'application/json; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store'];
  for (const k in err.headers) h.push(k, err.headers[k]!);
  if (closeAfter) h.push('connection', 'close');
  if (requestId !== undefined) h.push('x-request-id', requestId);
  res.writeHead(err.statusCode, h);
  res.end(body);
}

/**
 * Closes the connection once `res`'s answer makes no progress for `ms`: for a buffered answer, which
 * sits unwritten (with its Buffer and socket) only while the client does not read. Node's keep-alive
 * timeout replaces the bound once the answer is out. An injected request has no socket to bound.
 */
export function boundUnread(res: ServerResponse, ms: number): void {
  const socket = res.socket;
  if (typeof socket?.setTimeout === 'function') socket.setTimeout(ms);
}
