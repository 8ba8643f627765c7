// Expect: 100-continue. Unless a server listens for 'checkContinue', Node answers "100 Continue"
// the moment such a request's headers arrive, before anything has judged the request: a client
// about to be shed, refused by an auth hook, for its Host or without the admin token is told to
// send its body anyway. Here the 100 goes out when the body is first read (a body parser, the
// proxy streaming it upstream). A request answered without reading its body gets only its final
// status, and Node closes the connection after it (a client that was told nothing may still send
// the body, which must not be read as the next request). The gateway's server and every server
// headroom stands in front of (in-front.ts) answer so.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import { HeadroomError } from '../errors.js';
import { kindOf } from '../options/spec.js';

/**
 * Sends 100 Continue on the server's requests (Node's http or https server) only once their body
 * is read; returns the idempotent undo. A server that already has a 'checkContinue' listener
 * (its own, or this one) is refused with HEADROOM_CONFIG_INVALID: each listener would hand the
 * request to the app again.
 */
export function continueOnRead(server: Server): () => void {
  // Not a duck-type test: an Express app has on() and emit() too, and would take the listener silently.
  if (!((server as unknown) instanceof NetServer)) {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `continueOnRead(server) takes a Node http or https server (the one http.createServer() or app.listen() returns); got ${kindOf(server)}`,
    );
  }
  if (server.listenerCount('checkContinue') > 0) {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      "continueOnRead(server): the server already answers Expect: 100-continue itself (it has a 'checkContinue' listener, yours or an earlier continueOnRead's; headroom's Fastify plugin and NestJS module add one): call it once per server",
    );
  }
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    // Every way of reading a Node stream (pipe, 'data', read(), async iteration) calls _read; an
    // IncomingMessage calls it only for a reader, never on its own as bytes arrive.
    const read = req._read;
    req._read = function (size) {
      req._read = read;
      // After the final status's headers a 100 would be read as part of that response.
      if (!res.headersSent) res.writeContinue();
      read.call(this, size);
    };
    server.emit('request', req, res);
  };
  server.on('checkContinue', listener);
  return () => {
    server.off('checkContinue', listener);
  };
}

/** continueOnRead, unless the server answers Expect: 100-continue itself already ('checkContinue' listened to): its undo, or undefined. */
export const continueOnReadUnlessOwn = (server: Server): (() => void) | undefined =>
  server.listenerCount('checkContinue') === 0 ? continueOnRead(server) : undefined;
