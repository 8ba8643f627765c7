// A "Redis" that accepts connections and never answers (a real TCP server misbehaving on purpose):
// callers must still be served from L1 quickly, and close() must leave nothing behind.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { createCache } from '../../src/cache/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

test('an unresponsive Redis never makes a cache call hang or fail', async () => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', () => undefined); // swallow commands, answer nothing
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  try {
    await assertNoLeakedHandles(async () => {
      const cache = createCache({ redis: { url: `redis://127.0.0.1:${port}`, commandTimeout: 200 } });
      const t0 = Date.now();
      await cache.set('k', { v: 1 });
      assert.deepEqual(await cache.get('k'), { v: 1 });
      assert.equal(await cache.get('missing'), undefined);
      assert.equal(await cache.getOrSet('g', () => 'loaded'), 'loaded');
      await cache.invalidateByTag('t');
      await cache.delete('k');
      assert.ok(Date.now() - t0 < 3000, `calls took ${Date.now() - t0} ms`);
      const s = cache.stats();
      assert.equal(s.l2?.connected, false);
      await cache.close();
      for (const s of sockets) s.destroy();
    });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
