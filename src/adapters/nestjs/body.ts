// Keeping the body of proxied requests away from body parsers. NestJS parses bodies before any
// route handler runs: on Express with express.json()/urlencoded() (registered by Nest itself), on
// Fastify with its content-type parsers, which also refuse unknown types with 415 and cap the
// size. A proxied request must reach the proxy with its body unread, whatever its type and size,
// and still pass through the app's middleware, guards and interceptors on the way.
//
// Every parser decides from the request headers whether there is a body to read (type-is's
// hasBody and typeis(), Fastify's handleRequest), so the early middleware moves the three headers
// that announce a body aside for requests under the proxy's mount, and the proxy handler puts them
// back before forwarding. Nothing is buffered; the socket's body simply stays unread.
import type { IncomingMessage } from 'node:http';

const HIDDEN = Symbol.for('headroom-memory.nestjs.body-headers');
const BODY_HEADERS = ['content-type', 'content-length', 'transfer-encoding'] as const;

type Held = IncomingMessage & { [HIDDEN]?: Partial<Record<(typeof BODY_HEADERS)[number], string>> };

export function hideBody(req: IncomingMessage): void {
  const held: Partial<Record<(typeof BODY_HEADERS)[number], string>> = {};
  for (const name of BODY_HEADERS) {
    const value = req.headers[name];
    if (value !== undefined) {
      held[name] = value;
      delete req.headers[name];
    }
  }
  (req as Held)[HIDDEN] = held;
}

/** Puts back what hideBody moved aside (a no-op for a request it did not touch). */
export function restoreBody(req: IncomingMessage): void {
  const held = (req as Held)[HIDDEN];
  if (!held) return;
  delete (req as Held)[HIDDEN];
  Object.assign(req.headers, held);
}
