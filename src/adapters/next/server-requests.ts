// The Next.js app's requests counted in flight on their Node.js responses. Next.js hands a route
// handler no way to its Node.js response or server, so the HTTP server's `http.server.request.start`
// diagnostics channel (published synchronously just before the server's 'request' event) is used
// in two steps:
// - learning: each request's response and server go into an AsyncLocalStorage that everything
//   Next.js does for the request inherits. The first headroom route handler to find one there
//   (take()) gets its own request's response, and with it which server is Next.js's.
// - counting: the storage is disabled, and the channel counts each request of that server in flight
//   as it starts (InFlight.count: a Map lookup), pages and static files included. Headroom's own
//   routes (health, metrics, admin) are left out by the paths they were seen at, when the count is
//   read, so the scrape that teaches the metrics route its path leaves itself out too.
// On Node.js 20 an enabled AsyncLocalStorage copies its store into every promise and other async
// resource of every request in the process (about 0.1 µs each; a one-line route makes ~240, a page
// thousands), so it is kept only for as long as it takes to learn the server; an app that sends
// LEARNING_REQUESTS requests without reaching a headroom route stops learning until one runs.
// The store is a holder the first reader empties: the async resources a request leaves behind (a
// timer, a pooled connection) inherit it and must not keep the response alive. The responses of
// the requests that start while learning are kept by weak reference (a finished one is collected as
// in the bare app; the references are pruned every PRUNE_EVERY requests), so that those still
// unanswered when the server is learned count from then on: a shutdown in the first seconds waits
// for them as well.
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Headroom } from '../../toolkit/headroom.js';
import { withoutTrailingSlashes } from '../../toolkit/paths.js';
import { createStallWatch, routedPath } from './stalls.js';

const CHANNEL = 'http.server.request.start';

/** Requests published while learning with no headroom route taking one, after which learning stops. */
export const LEARNING_REQUESTS = 1000;

/** While learning, the references to finished or collected responses are dropped once every this many requests. */
const PRUNE_EVERY = 32;

/** At most this many own paths are kept (a catch-all route must not grow the set without bound). */
const MAX_OWN = 64;

/** What Node publishes on the channel. */
interface Start {
  request: IncomingMessage;
  response: ServerResponse;
  server: unknown;
}

interface Holder {
  start: Start | undefined;
}

export interface ServerRequests {
  /** True once Next.js's server is known: its requests are counted as they start. */
  readonly counting: boolean;
  /** Starts learning which server is Next.js's, unless it is learning or counting already. */
  learn(): void;
  /**
   * While learning: the Node.js response of the request being handled, if it came through a Node.js
   * server since learning began; the first call takes it (later ones in the same request get
   * undefined) and counting begins on that server. The caller counts this one request itself.
   * Starts learning again if it had stopped (for the requests after this one); undefined while counting.
   */
  take(): ServerResponse | undefined;
  /** Requests for this path (a health probe, the metrics scrape), or below it, are headroom's own answers: not counted from now on. */
  own(path: string, below?: boolean): void;
  /** Responses under a proxy route's prefix are cut when their client stops reading for `timeout` ms (stalls.ts; while counting). */
  watchStalls(prefix: string, timeout: number): void;
  /** Stops learning and counting. Idempotent. */
  close(): void;
}

const unanswered = (res: ServerResponse | undefined): res is ServerResponse => res !== undefined && !res.writableFinished && !res.destroyed;

/** The server that accepted the response's connection (what the channel publishes as `server`). */
const serverOf = (res: ServerResponse): unknown => (res.req.socket as { server?: unknown } | null)?.server;

export function serverRequests(headroom: Pick<Headroom, 'countRequest' | 'leaveOut'>): ServerRequests {
  let storage: AsyncLocalStorage<Holder> | undefined; // while learning
  let server: unknown; // Next.js's, once learned
  let unclaimed = 0; // requests published since learning began
  let started: WeakRef<ServerResponse>[] = []; // while learning: the responses since it began
  const ownPaths = new Set<string>();
  const ownPrefixes: string[] = [];

  const isOwn = (url: string | undefined): boolean => {
    if (ownPaths.size === 0 && ownPrefixes.length === 0) return false;
    const path = withoutTrailingSlashes(routedPath(url ?? '/'));
    return ownPaths.has(path) || ownPrefixes.some((p) => path.startsWith(p));
  };
  headroom.leaveOut((res) => isOwn(res.req?.url));
  const stalls = createStallWatch();
  const onStart = (message: unknown): void => {
    const start = message as Start;
    if (server !== undefined) {
      if (start.server === server) {
        headroom.countRequest(start.request, start.response);
        stalls.offer(start.request, start.response);
      }
    } else if (storage !== undefined) {
      if (++unclaimed > LEARNING_REQUESTS) return stop();
      storage.enterWith({ start });
      if (unclaimed % PRUNE_EVERY === 0) started = started.filter((r) => unanswered(r.deref()));
      started.push(new WeakRef(start.response));
    }
  };
  const stop = (): void => {
    storage?.disable();
    storage = undefined;
    started = [];
    unsubscribe(CHANNEL, onStart);
  };

  const learn = (): void => {
    if (storage !== undefined || server !== undefined) return;
    storage = new AsyncLocalStorage();
    unclaimed = 0;
    subscribe(CHANNEL, onStart);
  };

  return {
    get counting() {
      return server !== undefined;
    },
    learn,
    take() {
      if (server !== undefined) return undefined;
      if (storage === undefined) {
        learn();
        return undefined;
      }
      const holder = storage.getStore();
      const start = holder?.start;
      if (!holder || !start) return undefined;
      holder.start = undefined;
      server = start.server;
      // Counting from now on: no request needs the storage any more.
      storage.disable();
      storage = undefined;
      // The server's other requests that started while learning and are not answered yet.
      for (const r of started) {
        const res = r.deref();
        if (res !== start.response && unanswered(res) && serverOf(res) === server) {
          headroom.countRequest(res.req, res);
          stalls.offer(res.req, res);
        }
      }
      started = [];
      return start.response;
    },
    own(seen, below = false) {
      // `/health/` reaches the /health route when Next.js keeps trailing slashes
      // (skipTrailingSlashRedirect): one own path, not one per variant a client sends.
      const path = withoutTrailingSlashes(seen);
      const prefix = `${path}/`;
      if (ownPaths.has(path) && (!below || ownPrefixes.includes(prefix))) return;
      if (ownPaths.size + ownPrefixes.length >= MAX_OWN) return;
      ownPaths.add(path);
      if (below) ownPrefixes.push(prefix);
    },
    watchStalls(prefix, timeout) {
      stalls.watch(prefix, timeout);
    },
    close() {
      stop();
      stalls.close();
      server = undefined;
    },
  };
}
