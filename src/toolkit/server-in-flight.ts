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
  // Responses counted and not yet finished, per connection: one mutable cell per connection, so a
  // request costs one WeakMap lookup on arrival and one at its finish. A WeakMap, not a property on
  // the socket (which would give every net.Socket another hidden class).
  const open = new WeakMap<Socket, { n: number }>();
  const onFinish = (message: unknown): void => {
    const m = message as { server: unknown; socket: Socket | null };
    if (m.server !== server || !m.socket) return;
    const cell = open.get(m.socket);
    // 0 once the connection closed: its open responses were given back then.
    if (cell && cell.n > 0) {
      cell.n--;
      leave();
    }
  };
  const onClose = function (this: Socket): void {
    const cell = open.get(this);
    if (!cell) return;
    let n = cell.n;
    cell.n = 0;
    while (n-- > 0) leave();
  };
  subscribe(FINISH, onFinish);
  let closed = false;
  return {
    count(req) {
      const socket = req.socket;
      if (socket.destroyed) return false; // its 'close' has been and gone
      let cell = open.get(socket);
      if (cell === undefined) {
        cell = { n: 0 };
        open.set(socket, cell);
        socket.once('close', onClose);
      }
      cell.n++;
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
