// In-flight counting for a whole HTTP/1 server (node:http or node:https) without a listener on
// every response: a response's end comes from Node's diagnostics channel
// `http.server.response.finish` (published for every server once anyone subscribes), an abort
// from its connection's 'close' (one listener per connection, not per request). Under callgrind
// on the Fastify bench app, res.on('close') per request (EventEmitter's megamorphic insert into
// the response's listener dictionary, then emit and apply) was the largest part of what the
// plugin added to a request.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Server as HttpServer, type IncomingMessage } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

const FINISH = 'http.server.response.finish';

export interface ServerInFlight {
  /** Counts the request in flight (call from the server's request listener); false, counting nothing, if its connection is already gone. */
  count(req: IncomingMessage): boolean;
  /** Stops listening for finished responses (idempotent). */
  close(): void;
}

/**
 * undefined for a server this cannot watch (HTTP/2 publishes no finish): count with
 * trackResponse there. `enter`/`leave` move the in-flight count; leave runs exactly once per
 * enter — at the response's finish, or at its connection's close if it never finished.
 */
export function serverInFlight(server: unknown, enter: () => void, leave: () => void): ServerInFlight | undefined {
  if (!(server instanceof HttpServer || server instanceof HttpsServer)) return undefined;
  // Responses counted and not yet finished, per connection. A WeakMap, not a property on the
  // socket (which would give every net.Socket another hidden class); it also measured a little
  // cheaper per request under callgrind.
  const open = new WeakMap<Socket, number>();
  const onFinish = (message: unknown): void => {
    const m = message as { server: unknown; socket: Socket | null };
    if (m.server !== server || !m.socket) return;
    const n = open.get(m.socket);
    // 0 once the connection closed: its open responses were given back then.
    if (n) {
      open.set(m.socket, n - 1);
      leave();
    }
  };
  const onClose = function (this: Socket): void {
    let n = open.get(this) ?? 0;
    open.set(this, 0);
    while (n-- > 0) leave();
  };
  subscribe(FINISH, onFinish);
  let closed = false;
  return {
    count(req) {
      const socket = req.socket;
      if (socket.destroyed) return false; // its 'close' has been and gone
      const n = open.get(socket);
      if (n === undefined) socket.once('close', onClose);
      open.set(socket, (n ?? 0) + 1);
      enter();
      return true;
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe(FINISH, onFinish);
    },
  };
}
