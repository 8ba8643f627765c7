// Cutting a client that stops reading a proxied download, on the Node.js response Next.js writes.
// The proxy lets go of the upstream after its clientTimeout, and errors the Web stream it gave
// Next.js; but Next's writer waits for the socket to drain before it acts on that error (a
// WritableStream's abort waits for the write in flight), so the connection, what the kernel holds
// for it and its in-flight count stayed until the client went away. A route handler cannot reach
// its Node.js response, so the responses under a proxy route's prefix are watched from where their
// requests start (server-requests.ts, once Next's server is known): one sweep looks at each four
// times per timeout, and a response whose socket has data queued and took none of it (bytes written
// and bytes queued unchanged) for a whole timeout is destroyed. A slow upstream queues nothing and
// is never cut; not socket.setTimeout, which Node's own keep-alive timer uses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterMount } from '../../proxy/mount.js';

const LOOKS = 4;

interface Watched {
  bytes: number;
  queued: number;
  looks: number;
}

export interface StallWatch {
  /** Watches the responses of requests under `prefix` from now on, with the proxy's clientTimeout (ms). */
  watch(prefix: string, timeout: number): void;
  /** A request of Next's server as it starts: watched when it is under a watched prefix. */
  offer(req: IncomingMessage, res: ServerResponse): void;
  /** Stops the sweep and forgets every response. Idempotent. */
  close(): void;
}

export function createStallWatch(): StallWatch {
  const prefixes: string[] = [];
  // One timeout for all: the shortest a proxy route asked for.
  let timeout = Infinity;
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
      } else if (++w.looks >= LOOKS) {
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

  return {
    watch(prefix, ms) {
      if (!prefixes.includes(prefix)) prefixes.push(prefix);
      timeout = Math.min(timeout, ms);
    },
    offer(req, res) {
      if (prefixes.length === 0) return;
      const url = req.url ?? '/';
      if (!prefixes.some((p) => afterMount(url, p) !== undefined)) return;
      watched.set(res, { bytes: -1, queued: -1, looks: 0 });
      res.once('close', () => watched.delete(res));
      if (!timer) {
        timer = setInterval(sweep, timeout / LOOKS);
        timer.unref();
      }
    },
    close() {
      stopSweep();
      watched.clear();
    },
  };
}
