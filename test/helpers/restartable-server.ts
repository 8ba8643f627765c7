// A loopback HTTP server that can stop (connections reset, port closed: clients are refused) and
// listen again on the same port, for sinks and receivers that go away and come back in tests.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RestartableServer {
  /** The port, fixed by the first start(). */
  readonly port: number;
  /** Listens (again) on 127.0.0.1, on the first start's port after that. */
  start(): Promise<void>;
  /** Destroys open connections and closes the port; idempotent. */
  stop(): Promise<void>;
}

export function restartableServer(handle: RequestListener): RestartableServer {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  return {
    get port() {
      return port;
    },
    async start() {
      const s = createServer(handle);
      server = s;
      s.on('connection', (c) => {
        sockets.add(c);
        c.on('close', () => sockets.delete(c));
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as AddressInfo).port;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const c of sockets) c.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}
