// Cutting a client that stops reading a proxied download or a passed-through image, on the Node.js
// response Next.js writes. The proxy and the image service (each at its clientReadTimeout) let go
// of the upstream and error the Web stream they gave Next.js; but Next's writer waits for the
// socket to drain before it acts on that error (a WritableStream's abort waits for the write in
// flight), so the connection, what the kernel holds for it and its in-flight count stayed until the
// client went away. A route handler cannot reach its Node.js response, so the responses under a
// watched path are watched from where their requests start (server-requests.ts, once Next's server
// is known): one sweep looks at each four times per (shortest) timeout, and a response whose socket
// has data queued and took none of it (bytes written and bytes queued unchanged) for its path's
// timeout is destroyed. A slow upstream queues nothing and is never cut; not socket.setTimeout,
// which Node's own keep-alive timer uses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterMount } from '../../proxy/mount.js';
import { pathOf } from '../../toolkit/node-middleware.js';
import { withoutTrailingSlashes } from '../../toolkit/paths.js';

const LOOKS = 4;

/**
 * The path Next.js routes a request target by: dot segments resolved (`/x/../api`, `/%2e/api`) and
 * backslashes read as slashes, as a WHATWG URL does; without the query. Matching the raw target
 * instead would let `/x/../api/big`, which Next routes to /api, go unwatched.
 */
export function routedPath(url: string): string {
  const path = pathOf(url);
  if (!/[.%\\]/.test(path)) return path;
  try {
    return new URL(path, 'http://next.invalid').pathname;
  } catch {
    return path;
  }
}

interface Watched {
  bytes: number;
  queued: number;
  /** Sweeps in a row without progress. */
  looks: number;
  /** Its path's timeout, ms: cut once that many sweep periods went by without progress. */
  timeout: number;
}

export interface StallWatch {
  /** Watches the responses of requests at or under `prefix` from now on, cut after `timeout` ms without progress. */
  watch(prefix: string, timeout: number): void;
  /** A request of Next's server as it starts: watched when it is under a watched prefix. */
  offer(req: IncomingMessage, res: ServerResponse): void;
  /** Stops the sweep and forgets every response. Idempotent. */
  close(): void;
}

export function createStallWatch(): StallWatch {
  const prefixes: { prefix: string; timeout: number }[] = [];
  // The sweep's period: a quarter of the shortest timeout.
  let period = Infinity;
  const watched = new Map<ServerResponse, Watched>();
  let timer: NodeJS.Timeout | undefined;

  const sweep = (): void => {
    for (const [res, w] of watched) {
      const socket = res.socket;
      if (!socket) continue;
      const queued = socket.writableLength;
      const bytes = socket.bytesWritten;
      if (queued === 0 || bytes !== w.bytes || queued !== w.queued) {
        w.bytes = bytes;
        w.queued = queued;
        w.looks = 0;
      } else if (++w.looks * period >= w.timeout) {
        watched.delete(res);
        res.destroy();
      }
    }
    if (watched.size === 0) stopSweep();
  };
  const stopSweep = (): void => {
    clearInterval(timer);
    timer = undefined;
  };
  const startSweep = (): void => {
    timer = setInterval(sweep, period);
    timer.unref();
  };

  return {
    watch(path, timeout) {
      // A route's path as its first request showed it: `/image/` (Next keeps the slash with
      // skipTrailingSlashRedirect) must watch `/image` and all below it too.
      const prefix = withoutTrailingSlashes(path);
      if (prefixes.some((p) => p.prefix === prefix)) return;
      prefixes.push({ prefix, timeout });
      if (timeout / LOOKS < period) {
        period = timeout / LOOKS;
        // At the new period; the responses already watched are swept on (none: the next one offered starts it).
        stopSweep();
        if (watched.size > 0) startSweep();
      }
    },
    offer(req, res) {
      if (prefixes.length === 0) return;
      const path = routedPath(req.url ?? '/');
      const match = prefixes.find((p) => afterMount(path, p.prefix) !== undefined);
      if (!match) return;
      watched.set(res, { bytes: -1, queued: -1, looks: 0, timeout: match.timeout });
      res.once('close', () => watched.delete(res));
      if (!timer) startSweep();
    },
    close() {
      stopSweep();
      watched.clear();
    },
  };
}
