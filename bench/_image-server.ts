// One image server for bench/image.ts, in its own process: `node _image-server.ts KIND ORIGIN [L1_MIB]`
// (KIND: headroom | headroom-cores | ipx; L1_MIB: headroom's in-process cache budget, default the
// gateway's CACHE_MAX_BYTES default). Loads only what that server needs, so the measured
// process carries no benchmark harness; prints {"port":N} once listening.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';

const [kind, origin, l1] = process.argv.slice(2) as [string, string, string | undefined];
let listen: () => Promise<number>;
if (kind === 'headroom' || kind === 'headroom-cores') {
  const { default: Fastify } = await import('fastify');
  const { createImageService } = await import('../src/image/index.js');
  const { createCache } = await import('../src/cache/index.js');
  const { installErrorHandlers } = await import('../src/server/error-handler.js');
  const { imageRoutes } = await import('../src/server/routes/image.js');
  // Gateway defaults, except waits long enough for 16 queued 24 MP transforms on 2 busy cores,
  // and no L2: ipx caches nothing, and a disk L2 would add a file write per source.
  const image = createImageService({
    cache: createCache(l1 ? { l1: { maxBytes: Number(l1) * 1024 ** 2 } } : {}),
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
