// Socket-level checks for tests.
import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

/** True when nothing accepts connections on the URL's port any more. */
export function portClosed(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

export interface LocalServer {
  server: Server;
  url: string;
  /** Drops open connections and resolves once the server is closed. */
  close(): Promise<void>;
}

/** Listens an app (Express, or anything with listen(port, host)) on a free 127.0.0.1 port. */
export async function listenLocal(app: { listen(port: number, host: string): Server }): Promise<LocalServer> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Listens a Fastify app on a free 127.0.0.1 port; close() drops open connections, then closes the app. */
export async function listenFastify(app: {
  listen(o: { port: number; host: string }): Promise<string>;
  server: Server;
  close(): Promise<unknown>;
}): Promise<Omit<LocalServer, 'server'>> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    async close() {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
