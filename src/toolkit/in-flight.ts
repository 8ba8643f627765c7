// The app's requests in flight, counted three ways and read as one number (metrics, the dashboard,
// graceful shutdown's idle()):
// - count(req, res), every Node.js adapter's request path: the request's connection is remembered,
//   and a request is in flight while the response Node has attached to that connection has not
//   finished and the connection is still open — decided when the count is read, not pushed on
//   every finish. A request costs one Map lookup and one property read; nothing listens per request
//   or per connection, and nothing of the request is held: Node detaches a response from its socket
//   when it finishes, so a finished request's objects (an Express req.body, res.locals) can be
//   collected at once, as in the bare app (holding each connection's latest response, as before,
//   kept them until the connection's next request or the next sweep). A request headroom does not
//   count (a health probe) on a connection that carried counted ones counts while it is answered.
//   (Node's response-finish diagnostics channel plus a 'close' listener per connection cost a
//   Fastify app's requests ~2.5 % more CPU in bench/adapters.)
//   A response queued behind an unfinished one on its connection (pipelining) is held until it
//   finishes; one counted before Node attaches it (the request-start channel on Node 20) is not
//   held. A sweep every second lets go of finished queued ones and of closed connections, so no
//   socket outlives its end by more than about a second.
// - countServer(server), for gates that every request of a Node http or https server passes (the
//   Fastify plugin; NestJS's gate in front of Express's server or in Fastify's onRequest): every
//   connection is remembered as it opens and nothing at all is done per request (a per-request
//   count() cost a Fastify app ~1.5-2 % of its CPU in bench/adapters); the requests headroom
//   answers itself are left out with uncount(res). A pipelined request queued
//   behind an unfinished one is counted once its response is being written (idle() still waits for
//   it: Node attaches it to the connection as the earlier one finishes, before that one's 'close').
// - trackResponse(res): until the response's 'close', for responses that are not Node's HTTP/1
//   ones on a real connection (HTTP/2 compatibility responses, light-my-request's injected ones,
//   whose mock socket is never destroyed and so would never leave the map).
// - track(): an explicit enter and idempotent leave (Next.js handlers called outside a Node server).
// leaveOut(test) leaves out counted responses that turn out to be headroom's own only after they
// were counted (the Next.js adapter learns its routes' paths as they answer): asked when read.
import { Server as HttpServer, ServerResponse, type IncomingMessage } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { Socket } from 'node:net';

/** Time between sweeps: at most this long is a finished response or a closed connection held. */
const SWEEP_MS = 1000;

/**
 * A connection with counted requests: the responses counted while not attached to it (queued behind
 * an unfinished one), held until they finish; undefined when there are none (the common case).
 */
interface Connection {
  queued: ServerResponse[] | undefined;
}

/** The response Node is writing on this socket: set when a response is assigned, null once it finishes. */
const attached = (socket: Socket): unknown => (socket as Socket & { _httpMessage?: unknown })._httpMessage;

export interface InFlight {
  /** Counts a Node request in flight until its response finishes or its connection closes. */
  count(req: IncomingMessage, res: ServerResponse): void;
  /** Counts a response in flight until its 'close' (Node emits it once, on finish and on abort alike). */
  trackResponse(res: ServerResponse): void;
  /**
   * Counts every request of the server's connections in flight, doing nothing per request; false
   * (nothing done) when it is not Node's HTTP/1 server (http or https). Undone by close().
   */
  countServer(server: unknown): boolean;
  /** Leaves a response of a counted server out of the count (headroom answered it itself). */
  uncount(res: ServerResponse): void;
  /**
   * Leaves out the counted responses `test` picks, asked when the count is read (for an adapter that
   * learns which requests are headroom's own only after they were counted, as Next.js's does). Each
   * call adds a test; a response any of them picks is left out.
   */
  leaveOut(test: (res: ServerResponse) => boolean): void;
  /** Counts a request in flight until the returned function is called (idempotent). */
  track(): () => void;
  /** Requests in flight now. */
  value(): number;
  /** Resolves true once nothing is in flight, false after `timeout` ms. */
  idle(timeout: number): Promise<boolean>;
  /** Stops the sweep and lets go of every connection; later requests are not counted. Idempotent. */
  close(): void;
}

const finished = (res: ServerResponse): boolean => res.writableFinished;

const unfinished = (list: ServerResponse[]): ServerResponse[] => list.filter((r) => !finished(r));

export function createInFlight(): InFlight {
  // By connection (the request's socket); not a property on the socket, which would give every
  // net.Socket another hidden class.
  const connections = new Map<Socket, Connection>();
  let sweeper: NodeJS.Timeout | undefined; // the sweep's interval, only while connections are known
  let closed = false;
  let tracked = 0; // trackResponse and track
  const uncounted = new WeakSet<ServerResponse>();
  const leftOut: ((res: ServerResponse) => boolean)[] = [];
  const counts = (res: ServerResponse): boolean => !finished(res) && !uncounted.has(res) && !leftOut.some((test) => test(res));
  const servers: { server: HttpServer | HttpsServer; event: string; listener: (socket: Socket) => void }[] = [];

  /** Lets go of what has ended and returns how many counted responses are still open. */
  const sweep = (): number => {
    let n = 0;
    for (const [socket, c] of connections) {
      if (socket.destroyed) {
        connections.delete(socket);
        continue;
      }
      const current = attached(socket);
      if (current instanceof ServerResponse && counts(current)) n++;
      if (c.queued !== undefined) {
        c.queued = unfinished(c.queued);
        for (const r of c.queued) if (r !== current && counts(r)) n++;
        if (c.queued.length === 0) c.queued = undefined;
      }
    }
    if (connections.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
    return n;
  };
  const value = (): number => tracked + sweep();

  // idle(): while someone waits, responses and connections say when they close, and each close
  // looks again. Only then: the request path listens to nothing.
  const waiters = new Set<() => void>();
  const watched = new WeakSet<object>();
  const check = (): void => {
    if (waiters.size === 0 || value() !== 0) return;
    const all = [...waiters];
    waiters.clear();
    for (const w of all) w();
  };
  const watch = (emitter: { once(event: 'close', listener: () => void): unknown } & object): void => {
    if (watched.has(emitter)) return;
    watched.add(emitter);
    emitter.once('close', check);
  };
  const watchAll = (): void => {
    for (const [socket, c] of connections) {
      watch(socket);
      const current = attached(socket);
      if (current instanceof ServerResponse) watch(current);
      for (const r of c.queued ?? []) watch(r);
    }
  };
  const leave = (): void => {
    tracked--;
    if (tracked === 0) check();
  };
  const trackResponse = (res: ServerResponse): void => {
    tracked++;
    // 'on', not 'once': Node emits a response's 'close' once, and the shared listener allocates nothing.
    res.on('close', leave);
  };

  // While someone waits in idle(), each sweep also looks again and watches what has started since:
  // a counted server's requests are not seen one by one, so one that started after idle() was
  // called is noticed here (at most a sweep late) rather than by its 'close'.
  const tick = (): void => {
    if (waiters.size === 0) {
      sweep();
      return;
    }
    watchAll();
    check();
  };
  const remember = (socket: Socket): Connection => {
    let c = connections.get(socket);
    if (c === undefined) {
      c = { queued: undefined };
      connections.set(socket, c);
      if (sweeper === undefined) {
        sweeper = setInterval(tick, SWEEP_MS);
        sweeper.unref();
      }
    }
    return c;
  };

  return {
    count(req, res) {
      if (closed) return;
      const socket: unknown = req.socket;
      if (!(res instanceof ServerResponse) || !(socket instanceof Socket)) {
        trackResponse(res);
        return;
      }
      if (socket.destroyed) return; // its connection is gone: nothing is waiting for it
      const c = remember(socket);
      // Node attaches a response to its socket as the request arrives, unless an earlier one on the
      // same connection is still being written (pipelining): this later one is then held until it
      // finishes. Nothing attached yet is the Next.js adapter's case on Node 20: the
      // http.server.request.start channel publishes just before Node attaches the response, which
      // it then does at once. (Holding it meant ~31 finished responses per keep-alive connection,
      // each with everything its request touched.)
      const current = attached(socket);
      if (current !== res && current != null) {
        const queued = c.queued;
        if (queued === undefined) c.queued = [res];
        else {
          // A connection's responses finish in order: the finished ones are at the front, and
          // dropping them here keeps the queue to the unfinished ones.
          while (queued.length > 0 && finished(queued[0]!)) queued.shift();
          queued.push(res);
        }
      }
      if (waiters.size > 0) {
        watch(socket);
        watch(res);
      }
    },
    trackResponse,
    countServer(server) {
      if (closed) return false;
      // An https server hands its 'connection' listeners the TCP socket; requests carry the TLS one.
      const event = server instanceof HttpsServer ? 'secureConnection' : server instanceof HttpServer ? 'connection' : undefined;
      if (event === undefined) return false;
      const http = server as HttpServer | HttpsServer;
      const listener = (socket: Socket): void => {
        if (closed || socket.destroyed) return;
        remember(socket);
        if (waiters.size > 0) watch(socket);
      };
      http.on(event, listener);
      servers.push({ server: http, event, listener });
      return true;
    },
    uncount(res) {
      uncounted.add(res);
    },
    leaveOut(test) {
      leftOut.push(test);
    },
    track() {
      tracked++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        leave();
      };
    },
    value,
    idle(timeout) {
      if (value() === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(done);
          resolve(false);
        }, timeout); // kept ref'd: whoever awaits this bound wants the answer
        waiters.add(done);
        watchAll();
      });
    },
    close() {
      closed = true;
      for (const { server, event, listener } of servers.splice(0)) server.off(event, listener);
      connections.clear();
      clearInterval(sweeper);
      sweeper = undefined;
    },
  };
}
