// Standing in front of an HTTP server's request listeners (the framework's app): a gate sees each
// request first, and the app's listeners run only for the requests it passes. The Fastify plugin
// and the NestJS module on Express stand there, so that what headroom answers or refuses costs the
// framework nothing, and the app's requests pass no framework layer of headroom's. Standing there,
// it also holds back Node's early "100 Continue" until a body is read (continue.ts), so a request
// the gate or the app's auth refuses is not told to send its body first.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { continueOnReadUnlessOwn } from './continue.js';

/** True: the request goes on to the app. False: the gate has answered it. */
export type RequestGate = (req: IncomingMessage, res: ServerResponse) => boolean;

type Listener = (this: Server, req: IncomingMessage, res: ServerResponse) => void;

/**
 * Puts `gate` in front of the server's current request listeners (and answers Expect:
 * 100-continue on read, unless the server has a 'checkContinue' listener of its own); returns the
 * idempotent undo, which puts them back.
 */
export function standInFront(server: Server, gate: RequestGate): () => void {
  const listeners = server.listeners('request') as Listener[];
  // The usual case, one app: called directly, not through a loop.
  const only = listeners.length === 1 ? listeners[0] : undefined;
  const front: Listener = function (req, res) {
    if (!gate(req, res)) return;
    if (only) return only.call(this, req, res);
    for (const listener of listeners) listener.call(this, req, res);
  };
  for (const listener of listeners) server.removeListener('request', listener);
  server.on('request', front);
  const stopContinue = continueOnReadUnlessOwn(server);
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    stopContinue?.();
    server.removeListener('request', front);
    for (const listener of listeners) server.on('request', listener);
  };
}
