// One image server for bench/image.ts, in its own process: `node _image-server.ts KIND ORIGIN`
// (KIND: headroom | headroom-cores | ipx). Loads only what that server needs, so the measured
// process carries no benchmark harness; prints {"port":N} once listening.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';

const [kind, origin] = process.argv.slice(2) as [string, string];
let listen: () => Promise<number>;
if (kind === 'headroom' || kind === 'headroom-cores') {
  const { default: Fastify } = await import('fastify');
  const { createImageService } = await import('../src/image/index.js');
  const { createCache } = await import('../src/cache/index.js');
  const { installErrorHandlers } = await import('../src/server/error-handler.js');
  const { imageRoutes } = await import('../src/server/routes/image.js');
  // Gateway defaults, except waits long enough for 16 queued 24 MP transforms on 2 busy cores.
  const image = createImageService({
    cache: createCache({ l1: { maxBytes: 256 * 1024 ** 2 } }),
    allowedOrigins: [origin],
    allowPrivateNetworks: true,
    queueTimeout: 120_000,
    timeout: 120_000,
    concurrency: kind === 'headroom-cores' ? availableParallelism() : undefined,
  });
  const app = Fastify({ logger: false });
  installErrorHandlers(app);
  await app.register(imageRoutes, { image });
  listen = async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    return (app.server.address() as AddressInfo).port;
  };
} else if (kind === 'ipx') {
  const { createIPX, createIPXNodeServer, ipxFSStorage, ipxHttpStorage } = await import('ipx');
  const ipx = createIPX({ storage: ipxFSStorage({ dir: '/nonexistent' }), httpStorage: ipxHttpStorage({ allowAllDomains: true }) });
  const server = createServer(createIPXNodeServer(ipx));
  listen = () => new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
} else {
  throw new Error(`unknown server kind ${kind}`);
}
process.stdout.write(`${JSON.stringify({ port: await listen() })}\n`);
