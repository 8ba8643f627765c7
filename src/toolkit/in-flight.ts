// The app's requests in flight, counted three ways and read as one number (metrics, the dashboard,
// graceful shutdown's idle()):
// - count(req, res), every Node.js adapter's request path: the request's connection keeps its
//   latest response, and a request is in flight while that response has not finished on a
//   connection still open — decided when the count is read, not pushed on every finish. A request
//   costs one WeakMap lookup and one property write; nothing listens per request or per
//   connection. (Under bench/adapters the previous form — Node's response-finish diagnostics
//   channel plus a 'close' listener per connection — was ~2.5 % of a Fastify request's CPU.)
// - trackResponse(res): until the response's 'close', for responses that are not Node's HTTP/1
//   ones (HTTP/2 compatibility responses, test doubles).
// - track(): an explicit enter and idempotent leave (Next.js handlers called outside a Node server).
import { ServerResponse, type IncomingMessage } from 'node:http';

/** A connection's responses: the latest counted one, and earlier ones a pipelined request overtook unfinished (rare). */
interface Connection {
  res: ServerResponse;
  older: ServerResponse[] | undefined;
}

interface SocketLike {
  readonly destroyed?: boolean;
  once(event: 'close', listener: () => void): unknown;
}

export interface InFlight {
  /** Counts a Node request in flight until its response finishes or its connection closes. */
  count(req: IncomingMessage, res: ServerResponse): void;
  /** Counts a response in flight until its 'close' (Node emits it once, on finish and on abort alike). */
  trackResponse(res: ServerResponse): void;
  /** Counts a request in flight until the returned function is called (idempotent). */
  track(): () => void;
  /** Requests in flight now. */
  value(): number;
  /** Resolves true once nothing is in flight, false after `timeout` ms. */
  idle(timeout: number): Promise<boolean>;
}

const finished = (res: ServerResponse): boolean => res.writableFinished;

/** Drops the finished ones from a long list of overtaken responses: at 32, 64, 128 … entries (amortised O(1) per request). */
function pruned(older: ServerResponse[]): ServerResponse[] {
  const n = older.length;
  return n >= 32 && (n & (n - 1)) === 0 ? older.filter((r) => !finished(r)) : older;
}

export function createInFlight(): InFlight {
  // By connection (the request's socket). A WeakMap, so a closed connection's entry goes with it,
  // and not a property on the socket (which would give every net.Socket another hidden class).
  const connections = new WeakMap<object, Connection>();
  // The connections to read when counting. WeakRefs: a closed connection is not kept alive until
  // the next read; the refs themselves are dropped at each read and whenever the set doubles.
  const live = new Set<WeakRef<SocketLike & object>>();
  let sweepAt = 256;
  let tracked = 0; // trackResponse and track

  const sweep = (): number => {
    let n = 0;
    for (const ref of live) {
      const socket = ref.deref();
      if (socket === undefined || socket.destroyed === true) {
        live.delete(ref);
        continue;
      }
      const c = connections.get(socket);
      if (!c) continue;
      if (!finished(c.res)) n++;
      if (c.older) {
        c.older = c.older.filter((r) => !finished(r));
        n += c.older.length;
        if (c.older.length === 0) c.older = undefined;
      }
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
    for (const ref of live) {
      const socket = ref.deref();
      const c = socket && connections.get(socket);
      if (!socket || !c) continue;
      watch(socket);
      watch(c.res);
      for (const r of c.older ?? []) watch(r);
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

  return {
    count(req, res) {
      const socket = req.socket as (SocketLike & object) | null | undefined;
      if (!(res instanceof ServerResponse) || typeof socket !== 'object' || socket === null) {
        trackResponse(res);
        return;
      }
      if (socket.destroyed === true) return; // its connection is gone: nothing is waiting for it
      const c = connections.get(socket);
      if (c === undefined) {
        connections.set(socket, { res, older: undefined });
        live.add(new WeakRef(socket));
        if (live.size >= sweepAt) {
          sweep();
          sweepAt = Math.max(256, live.size * 2);
        }
      } else {
        // A pipelined request arrives while an earlier response is still being written.
        if (c.res !== res && !finished(c.res)) {
          if (c.older === undefined) c.older = [c.res];
          else {
            c.older.push(c.res);
            c.older = pruned(c.older);
          }
        }
        c.res = res;
      }
      if (waiters.size > 0) {
        watch(socket);
        watch(res);
      }
    },
    trackResponse,
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
  };
}
