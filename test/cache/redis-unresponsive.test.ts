// A "Redis" that accepts connections and never answers (a real TCP server misbehaving on purpose):
// callers must still be served from L1 quickly, and close() must leave nothing behind.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { createCache } from '../../src/cache/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { settles } from './mock-clock.js';

test('an unresponsive Redis never makes a cache call hang or fail', async (t) => {
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
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const cache = createCache({ redis: { url: `redis://127.0.0.1:${port}`, commandTimeout: 200 } });
      try {
        // The first call waits for the first connection, commandTimeout at most; then L2 is skipped.
        const first = cache.set('k', { v: 1 });
        t.mock.timers.tick(199);
        assert.equal(await settles(first), false);
        t.mock.timers.tick(1);
        await first;
        // Everything else settles without any time passing.
        const calls: [string, Promise<unknown>][] = [
          ['get', cache.get('k')],
          ['get missing', cache.get('missing')],
          ['getOrSet', cache.getOrSet('g', () => 'loaded')],
          ['invalidateByTag', cache.invalidateByTag('t')],
        ];
        for (const [what, p] of calls) assert.equal(await settles(p), true, what);
        assert.deepEqual(await calls[0]![1], { v: 1 });
        assert.equal(await calls[1]![1], undefined);
        assert.equal(await calls[2]![1], 'loaded');
        const del = cache.delete('k');
        assert.equal(await settles(del), true, 'delete');
        const s = cache.stats();
        assert.equal(s.l2?.connected, false);
        assert.equal(s.l2?.breakerOpen, true);
      } finally {
        t.mock.timers.reset(); // close() waits out ioredis's disconnect timer
        await cache.close();
        for (const s of sockets) s.destroy();
      }
    });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
