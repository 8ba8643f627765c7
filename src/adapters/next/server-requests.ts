// The Next.js app's requests counted in flight on their Node.js responses. Next.js hands a route
// handler no way to its Node.js response or server, so the HTTP server's `http.server.request.start`
// diagnostics channel (published synchronously just before the server's 'request' event) is used
// in two steps:
// - learning: the requests that start are kept, their responses by weak reference (a finished one
//   is collected as in the bare app; the references are pruned every PRUNE_EVERY requests). The
//   first headroom route handler to run (take()) looks among those still unanswered for the ones
//   with its own request's method, Host and path: when they all came through one server, that
//   server is Next.js's. None (its request started before the Headroom existed, or Next.js rewrote
//   its path), requests of two servers alike, or a Web Request without Host (a direct call, not one
//   Next.js made from a Node.js request): it waits for the next headroom request.
// - counting: each request of that server is counted in flight as it starts (InFlight.count: a Map
//   lookup), pages and static files included, and so are those that started while learning and
//   are still unanswered (a shutdown in the first seconds waits for them as well). Headroom's own
//   routes (health, metrics, admin) are left out by the paths they were seen at, when the count is
//   read, so the scrape that teaches the metrics route its path leaves itself out too.
// Not an AsyncLocalStorage carrying each request's response to its handler: on Node.js 20 one that
// was enabled, even briefly and then disabled, left every later request of the Next.js bench app
// allocating 2–6 KiB more (1–3 %: more scavenges, and its p99 is its scavenge pauses); kept enabled
// it cost ~2.5 KiB a request. An app that sends LEARNING_REQUESTS requests without reaching a
// headroom route stops learning until one runs.
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

/** What take() needs of the handler's Web Request. */
export interface RequestSeen {
  method: string;
  url: string;
  headers: { get(name: string): string | null };
}

/** A request that started while learning: its response, and its target as it arrived (Next.js may rewrite req.url later). */
interface Started {
  response: WeakRef<ServerResponse>;
  url: string | undefined;
}

export interface ServerRequests {
  /** True once Next.js's server is known: its requests are counted as they start. */
  readonly counting: boolean;
  /** Starts learning which server is Next.js's, unless it is learning or counting already. */
  learn(): void;
  /**
   * While learning: tries to learn Next.js's server from the handler's request (its unanswered
   * requests of that method, Host and path all came through one server). True when it did: that
   * server's unanswered requests, the handler's own among them, are counted from now on. Starts
   * learning again if it had stopped (for the requests after this one); false while counting or
   * when not learned.
   */
  take(request: RequestSeen): boolean;
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
  let learning = false;
  let server: unknown; // Next.js's, once learned
  let unclaimed = 0; // requests published since learning began
  let started: Started[] = []; // while learning: the requests since it began
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
    } else if (learning) {
      if (++unclaimed > LEARNING_REQUESTS) return stop();
      if (unclaimed % PRUNE_EVERY === 0) started = started.filter((r) => unanswered(r.response.deref()));
      started.push({ response: new WeakRef(start.response), url: start.request.url });
    }
  };
  const stop = (): void => {
    learning = false;
    started = [];
    unsubscribe(CHANNEL, onStart);
  };

  const learn = (): void => {
    if (learning || server !== undefined) return;
    learning = true;
    unclaimed = 0;
    subscribe(CHANNEL, onStart);
  };

  /** The servers of the unanswered requests started while learning that could be `request`: its method, Host and path. */
  const serversOf = (request: RequestSeen): Set<unknown> => {
    const servers = new Set<unknown>();
    const host = request.headers.get('host')?.toLowerCase();
    // Next.js copies the Node.js request's Host: a Request without one is a direct call.
    if (host === undefined) return servers;
    let path: string;
    try {
      path = new URL(request.url).pathname;
    } catch {
      return servers;
    }
    for (const s of started) {
      const res = s.response.deref();
      if (!unanswered(res) || res.req.method !== request.method || res.req.headers.host?.toLowerCase() !== host) continue;
      if (routedPath(s.url ?? '/') !== path) continue;
      const seen = serverOf(res);
      if (seen !== undefined) servers.add(seen);
    }
    return servers;
  };

  return {
    get counting() {
      return server !== undefined;
    },
    learn,
    take(request) {
      if (server !== undefined) return false;
      if (!learning) {
        learn();
        return false;
      }
      const servers = serversOf(request);
      if (servers.size !== 1) return false;
      [server] = servers;
      // The server's requests that started while learning and are not answered yet, this one among them.
      for (const s of started) {
        const res = s.response.deref();
        if (unanswered(res) && serverOf(res) === server) {
          headroom.countRequest(res.req, res);
          stalls.offer(res.req, res);
        }
      }
      started = [];
      learning = false;
      return true;
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
