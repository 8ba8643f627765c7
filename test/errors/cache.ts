// Codes of the cache and its L2 stores, raised by the cache (or, for what the cache turns into a
// miss, by the store it uses) on real files.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ValueType } from '../../src/cache/codec.js';
import { createCache, type Cache } from '../../src/cache/index.js';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { DiskStore } from '../../src/cache/stores/disk.js';
import { RedisStore } from '../../src/cache/stores/redis.js';
import { fromRejection, type Cases } from './fixtures.js';

async function withCache<T>(use: (c: Cache, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-codes-'));
  const c = createCache({ disk: { dir: join(dir, 'l2') }, l1: { maxEntryBytes: 100 } });
  try {
    return await use(c, join(dir, 'l2'));
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withStore<T>(o: { maxBytes?: number }, use: (s: DiskStore, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-codes-'));
  const s = new DiskStore({ dir: join(dir, 'l2'), ...o });
  try {
    return await use(s, join(dir, 'l2'));
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const meta = () => ({ type: ValueType.Binary, expiresAt: Date.now() + 60_000, staleUntil: Date.now() + 60_000, tags: [] });

export const cacheCases: Cases = {
  HEADROOM_CACHE_LOADER_TIMEOUT: () => withCache((c) => fromRejection(c.getOrSet('k', () => new Promise(() => {}), { timeout: 1 }))),

  HEADROOM_CACHE_VALUE_INVALID: () => withCache((c) => fromRejection(c.set('k', () => 1))),

  HEADROOM_CACHE_STREAM_SIZE_MISMATCH: () =>
    withCache((c) => fromRejection(c.setStream('k', Readable.from([Buffer.alloc(10)]), { size: 20 }))),

  HEADROOM_CACHE_STORE_CORRUPT: () =>
    // A value on disk whose bytes changed: the stream the cache hands out fails at its end.
    withCache(async (c, dir) => {
      await c.set('k', Buffer.alloc(5000, 7)); // over l1.maxEntryBytes: on disk only
      const shard = readdirSync(dir).find((d) => /^[0-9a-f]{2}$/.test(d))!;
      const file = join(dir, shard, readdirSync(join(dir, shard))[0]!);
      const bytes = readFileSync(file);
      bytes[bytes.length - 1]! ^= 0xff;
      writeFileSync(file, bytes);
      const s = await c.getStream('k');
      return fromRejection(
        (async () => {
          for await (const _ of s!.stream) void _;
        })(),
      );
    }),

  // The cache counts these and carries on (L1 serves; a miss), so they are seen at the store.
  HEADROOM_CACHE_STORE_UNAVAILABLE: () =>
    withStore({}, async (s, dir) => {
      await s.ready;
      rmSync(dir, { recursive: true, force: true });
      writeFileSync(dir, 'not a directory'); // every file operation fails
      return fromRejection(s.set('k', { ...meta(), payload: Buffer.from('v') }));
    }),

  // A "Redis" that accepts connections and never answers: the one call the cap allows waits, the next is refused.
  HEADROOM_CACHE_STORE_BUSY: async () => {
    const sockets = new Set<Socket>();
    const server = createServer((c) => {
      sockets.add(c);
      c.on('data', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const s = new RedisStore({ url: `redis://127.0.0.1:${port}`, maxPending: 1, commandTimeout: 200 });
    try {
      const first = s.get('a').catch(() => undefined);
      const refused = await fromRejection(s.get('b'));
      await first;
      return refused;
    } finally {
      await s.close();
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  },

  HEADROOM_CACHE_ENTRY_TOO_LARGE: () =>
    withStore({ maxBytes: 1024 ** 2 }, (s) => fromRejection(s.setStream('k', Readable.from([Buffer.alloc(2 * 1024 ** 2)]), meta()))),
};
