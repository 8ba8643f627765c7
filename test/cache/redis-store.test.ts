// The L2 contract against a real redis-server (skips loudly without the binary; CI must not skip),
// plus what only the Redis store has: tag sets that stay bounded, batched invalidation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import type { HeadroomError } from '../../src/errors.js';
import { RedisStore, INVALIDATE_BATCH, MAX_WAITING } from '../../src/cache/stores/redis.js';
import { freePort, redisOrSkip, startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { settles, turn } from './mock-clock.js';
import { entry, meta, storeContract } from './store-contract.js';

const enabled = redisOrSkip('cache redis store contract');

describe('redis store', { skip: !enabled }, () => {
  let redis: RedisServer;
  let raw: Redis;
  let n = 0;
  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw.disconnect();
    await redis.stop();
  });

  async function store(
    o: {
      keyPrefix?: string;
      chunkSize?: number;
      commandTimeout?: number;
      onWarn?: (fields: Record<string, unknown>, message: string) => void;
    } = {},
  ): Promise<RedisStore> {
    // Small chunk size so the multi-chunk path is exercised; a fresh prefix isolates each test.
    const s = new RedisStore({ url: redis.url, keyPrefix: `c${++n}:`, chunkSize: 256 * 1024, ...o });
    await new Promise<void>((resolve, reject) => {
      s.client.once('ready', () => resolve());
      s.client.once('error', reject);
    });
    return s;
  }

  describe('contract', () => storeContract('redis', () => store()));

  test('a streamed write answered at its deadline while its source stalls is given up: the source is destroyed, its place under maxPending freed', async () => {
    const s = await store({ commandTimeout: 200 });
    try {
      const source = new PassThrough();
      source.write(Buffer.alloc(1024)); // one chunk, then nothing
      await assert.rejects(s.setStream('stalled', source, meta()), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE', message: /commandTimeout/ });
      assert.equal(source.destroyed, true);
      await waitFor(() => s.stats().redis!.pending === 0, 'the write to leave its place under maxPending');
    } finally {
      await s.close();
    }
  });

  test('a tag set holds about its live keys: expired members are pruned as new ones are added', async () => {
    const s = await store();
    try {
      const p = `c${n}:`;
      // 15 rounds of 100 keys that live 60 ms; each round starts once the one before has expired.
      for (let i = 0; i < 1500; i++) {
        const at = Date.now();
        await s.set(`page:${i}`, entry(Buffer.from(String(i)), { expiresAt: at + 60, staleUntil: at + 60, tags: ['pages'] }));
        if (i % 100 === 99 && i < 1499) await waitFor(async () => (await raw.exists(`${p}v:page:${i}`)) === 0, `page:${i} to expire`);
      }
      let live = 0;
      for (let i = 0; i < 1500; i++) live += await raw.exists(`${p}v:page:${i}`);
      const members = await raw.zcard(`${p}t:pages`);
      assert.ok(members <= live + 64 + 100, `${members} members for ${live} live keys`);
      // The set itself expires with its longest-lived member.
      await waitFor(async () => (await raw.exists(`${p}v:page:1499`)) === 0, 'the last member to expire');
      await waitFor(async () => (await raw.exists(`${p}t:pages`)) === 0, 'the tag set to expire with it');
      // A member without TTL makes the set persistent.
      await s.set('keep', entry(Buffer.from('k'), { expiresAt: Infinity, staleUntil: Infinity, tags: ['pages'] }));
      assert.equal(await raw.pttl(`${p}t:pages`), -1);
    } finally {
      await s.close();
    }
  });

  test('invalidating a tag with more members than one batch deletes them all, and leaves no working key', async () => {
    const s = await store();
    try {
      const p = `c${n}:`;
      const count = INVALIDATE_BATCH * 2 + 17;
      const pipe = raw.pipeline();
      for (let i = 0; i < count; i++) pipe.set(`${p}v:m${i}`, 'x');
      await pipe.exec();
      // Members added through the store (the layout under test), the values above stand in for them.
      for (let i = 0; i < count; i += 1) await raw.zadd(`${p}t:big`, '+inf', `m${i}`);
      await s.set('tagged', entry(Buffer.from('t'), { tags: ['big'] }));
      await s.set('other', entry(Buffer.from('o'), { tags: ['small'] }));
      await s.invalidateByTag('big');
      assert.equal(await s.get('tagged'), undefined);
      assert.ok(await s.get('other'));
      assert.deepEqual(await raw.keys(`${p}v:m*`), []);
      assert.deepEqual(await raw.keys(`${p}t:big`), []);
      assert.deepEqual(await raw.keys(`${p}ti:*`), []);
    } finally {
      await s.close();
    }
  });

  test('a tag key of another type never fails a write or an invalidation: a plain set (older headroom) is converted with its members, anything else replaced and logged', async () => {
    const warnings: { fields: Record<string, unknown>; message: string }[] = [];
    const s = await store({ onWarn: (fields, message) => warnings.push({ fields, message }) });
    try {
      const p = `c${n}:`;
      // Tags as an older headroom wrote them: plain sets of keys, one expiring in 10 minutes, one never.
      await raw.mset(`${p}v:old1`, 'x', `${p}v:old2`, 'x', `${p}v:old3`, 'x');
      await raw.sadd(`${p}t:users`, 'old1', 'old2');
      await raw.pexpire(`${p}t:users`, 600_000);
      await raw.sadd(`${p}t:forever`, 'old3');
      const before = Date.now();
      await s.set('u1', entry(Buffer.from('u'), { tags: ['users', 'forever'] }));
      // A chunked write's commit adds its tags too (chunks of 256 KiB).
      await s.setStream('big', new PassThrough().end(Buffer.alloc(600 * 1024, 5)), meta({ tags: ['users'] }));
      assert.equal(await raw.type(`${p}t:users`), 'zset');
      assert.equal(await raw.type(`${p}t:forever`), 'zset');
      // The old members are kept, scored by the old set's expiry (the same rule as every member: pruned after it).
      const score = Number(await raw.zscore(`${p}t:users`, 'old1'));
      assert.ok(score >= before + 590_000 && score <= Date.now() + 600_000, `old1 scored ${score - before} ms ahead`);
      assert.equal(await raw.zscore(`${p}t:forever`, 'old3'), 'inf');
      assert.equal(await raw.pttl(`${p}t:forever`), -1, 'a member without expiry keeps the set');
      await s.invalidateByTag('users');
      assert.equal(await raw.exists(`${p}v:old1`, `${p}v:old2`, `${p}v:u1`, `${p}v:big`), 0, 'old and new members deleted');
      assert.equal(await raw.exists(`${p}v:old3`), 1);
      // A plain set nobody added to since is drained by invalidateByTag as well.
      await raw.sadd(`${p}t:legacy`, 'old3');
      await s.invalidateByTag('legacy');
      assert.equal(await raw.exists(`${p}v:old3`, `${p}t:legacy`), 0);
      assert.deepEqual(await raw.keys(`${p}ti:*`), []);
      assert.equal(warnings.length, 0, 'converting an older headroom tag set is not worth a warning');

      // Another tool's string under a tag key: replaced by the next add (logged once), which then works as usual.
      await raw.set(`${p}t:junk`, 'not a tag');
      await s.set('j1', entry(Buffer.from('j'), { tags: ['junk'] }));
      await s.set('j2', entry(Buffer.from('j'), { tags: ['junk'] }));
      assert.equal(await raw.type(`${p}t:junk`), 'zset');
      assert.equal(warnings.length, 1, 'logged once');
      assert.deepEqual(warnings[0]!.fields, { key: `${p}t:junk`, type: 'string' });
      assert.match(warnings[0]!.message, new RegExp(`${p}t:junk \\(a tag set\\) held a string`));
      await s.invalidateByTag('junk');
      assert.equal(await raw.exists(`${p}v:j1`, `${p}v:j2`), 0);
      // ... and by an invalidation (it has no members to delete).
      await raw.set(`${p}t:junk2`, 'not a tag');
      await s.invalidateByTag('junk2');
      assert.equal(await raw.exists(`${p}t:junk2`), 0);
      assert.equal(warnings.length, 2);
      assert.deepEqual(warnings[1]!.fields, { key: `${p}t:junk2`, type: 'string' });
      assert.deepEqual(await raw.keys(`${p}ti:*`), []);
      assert.equal(s.stats().errors, 0);
    } finally {
      await s.close();
    }
  });

  test("another tool's keys where the store keeps its bookkeeping or values are never a store failure", async () => {
    const s = await store();
    try {
      const p = `c${n}:`;
      // Pending sets of writes in flight, overwritten with strings: delete, invalidate, chunked writes work.
      await s.set('foo', entry(Buffer.from('f'), { tags: ['users'] }));
      await raw.set(`${p}pk:foo`, 'garbage');
      await raw.set(`${p}pt:users`, 'garbage');
      await s.delete('foo');
      await s.invalidateByTag('users');
      assert.equal(await raw.exists(`${p}v:foo`, `${p}pk:foo`, `${p}pt:users`), 0);
      await raw.set(`${p}pk:big`, 'garbage');
      await raw.set(`${p}pt:files`, 'garbage');
      await s.setStream('big', new PassThrough().end(Buffer.alloc(600 * 1024, 7)), meta({ tags: ['files'] }));
      assert.equal((await s.get('big'))?.payload.length, 600 * 1024);
      // A chunk hash made a string: a corrupt value (a miss, counted, deleted), not the store down.
      const chunks = String(await raw.hget(`${p}v:big`, 'c'));
      await raw.del(chunks);
      await raw.set(chunks, 'not a hash');
      assert.equal(await s.get('big'), undefined);
      await waitFor(async () => (await raw.exists(`${p}v:big`)) === 0, 'the corrupt value to be deleted');
      // Another type at a value key: a miss, counted, deleted (it was a silent miss, left in place).
      await raw.rpush(`${p}v:listed`, 'a', 'b');
      assert.equal(await s.get('listed'), undefined);
      assert.equal(await raw.exists(`${p}v:listed`), 0);
      // A string at a value key longer than any frame is not read into memory (100 MiB here).
      await raw.setrange(`${p}v:huge`, 100 * 1024 * 1024, 'x');
      globalThis.gc?.();
      const before = process.memoryUsage().arrayBuffers;
      assert.equal(await s.get('huge'), undefined);
      const grew = process.memoryUsage().arrayBuffers - before;
      assert.ok(grew < 16 * 1024 * 1024, `get() read ${grew} bytes of a 100 MiB string`);
      assert.equal(await raw.exists(`${p}v:huge`), 0);
      assert.deepEqual([s.stats().errors, s.stats().corrupt], [0, 3]);
      await s.set('after', entry(Buffer.from('ok')));
      assert.equal((await s.get('after'))?.payload.toString(), 'ok');
    } finally {
      await s.close();
    }
  });

  test("clear() of a database with many keys that are not the cache's: each scan batch has its own deadline", async () => {
    const s = await store({ commandTimeout: 100 });
    const p = `c${n}:`;
    try {
      await s.set('a', entry(Buffer.from('a')));
      // 400 000 keys of another app: SCAN goes through all of them, ~800 calls, well over 100 ms in all.
      await raw.eval(`for i = 1, 400000 do redis.call('SET', ARGV[1] .. i, 'x') end`, 0, `other${n}:`);
      const started = performance.now();
      await s.clear();
      assert.ok(performance.now() - started > 100, 'the whole clear took longer than one deadline');
      assert.equal(await raw.exists(`${p}v:a`), 0);
      assert.equal(s.stats().errors, 0);
    } finally {
      await raw.eval(`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) end`, 0, `other${n}:*`);
      await s.close();
    }
  });

  test("the key count is this cache's values only, and clear() treats glob characters in the prefix literally", async () => {
    const a = await store({ keyPrefix: 'g*[x]:' });
    const b = await store({ keyPrefix: 'gx:' });
    const c = await store({ keyPrefix: 'g?[x]:' });
    try {
      await raw.mset('unrelated:1', 'u', 'unrelated:2', 'u', 'gx', 'u');
      for (const k of ['1', '2', '3']) await a.set(k, entry(Buffer.from(k), { tags: ['t'] }));
      await a.set('big', entry(Buffer.alloc(600 * 1024, 1))); // chunked: one value, plus its chunk hash
      await b.set('keep', entry(Buffer.from('b')));
      await c.set('keep', entry(Buffer.from('c')));
      await a.sweep();
      assert.equal(a.stats().keyCount, 4, 'values under its own prefix only');
      await a.clear();
      assert.equal(await a.get('1'), undefined);
      assert.equal((await b.get('keep'))?.payload.toString(), 'b', "gx: survived g*[x]:'s clear");
      assert.equal((await c.get('keep'))?.payload.toString(), 'c', "g?[x]: survived g*[x]:'s clear");
      assert.equal(await raw.exists('unrelated:1', 'gx'), 2);
      await a.sweep();
      assert.equal(a.stats().keyCount, 0);
    } finally {
      await a.close();
      await b.close();
      await c.close();
    }
  });

  test("clear() deletes only the cache's own kinds of key: a cache whose prefix starts with this one's survives, and so do the app's keys", async () => {
    const shop = await store({ keyPrefix: 'shop' });
    const admin = await store({ keyPrefix: 'shop-admin' });
    try {
      await raw.set('shop:important', 'app data');
      await shop.set('k', entry(Buffer.from('s'), { tags: ['t'] }));
      await admin.set('k', entry(Buffer.from('a'), { tags: ['t'] }));
      await shop.clear();
      assert.equal(await shop.get('k'), undefined);
      assert.equal((await admin.get('k'))?.payload.toString(), 'a', "shop-admin's value survived shop's clear");
      assert.equal(await raw.exists('shop-adminv:k', 'shop-admint:t'), 2, "shop-admin's value and tag set are still in Redis");
      assert.equal(await raw.get('shop:important'), 'app data');
      await admin.invalidateByTag('t');
      assert.equal(await admin.get('k'), undefined);
    } finally {
      await raw.del('shop:important');
      await shop.close();
      await admin.close();
    }
  });

  test("an empty key prefix is refused: it would make every key in the database the cache's", () => {
    assert.throws(() => new RedisStore({ url: redis.url, keyPrefix: '' }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message:
        /redis.keyPrefix="": must be 1 to 128 printable ASCII characters without spaces \(not empty: it tells the cache's keys from every other key in the database\)/,
    });
  });

  test('a database the server does not have is refused on every call, never replaced by database 0', async () => {
    const s = new RedisStore({ url: `${redis.url}/99`, keyPrefix: 'nodb:' });
    try {
      await assert.rejects(s.set('k', entry(Buffer.from('v'))), {
        code: 'HEADROOM_CACHE_STORE_UNAVAILABLE',
        message: /refused the database in the URL \(.*DB index is out of range\)/,
      });
      await assert.rejects(s.get('k'), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' });
      assert.deepEqual(await raw.keys('nodb:*'), [], 'nothing was written to database 0');
    } finally {
      await s.close();
    }
  });

  test('calls made while the first connection is being made wait for it, in call order', async () => {
    const p = `early${++n}:`;
    const warned: string[] = [];
    const s = new RedisStore({ url: redis.url, keyPrefix: p, onWarn: (_fields, message) => warned.push(message) });
    try {
      assert.notEqual(s.client.status, 'ready');
      const calls = [
        s.set('a', entry(Buffer.from('a'), { tags: ['t'] })),
        s.set('b', entry(Buffer.from('b'), { tags: ['t'] })),
        s.invalidateByTag('t'), // issued after the writes: runs after them
        s.set('c', entry(Buffer.from('c'))),
      ];
      await Promise.all(calls);
      assert.equal(await raw.exists(`${p}v:a`, `${p}v:b`), 0);
      assert.equal((await s.get('c'))?.payload.toString(), 'c');
      assert.equal(s.stats().errors, 0);
      assert.deepEqual(warned, [], 'a store that connects warns nothing');
    } finally {
      await s.close();
    }
  });

  test('with no Redis and no call, the store says once, a commandTimeout after start, that it is not connected', async (t) => {
    const port = await freePort();
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const warned: string[] = [];
    const s = new RedisStore({ url: `redis://127.0.0.1:${port}`, commandTimeout: 200, onWarn: (_fields, message) => warned.push(message) });
    try {
      t.mock.timers.tick(199);
      assert.deepEqual(warned, []);
      t.mock.timers.tick(1);
      // A gateway makes no cache call until a request comes: without this nothing would say so.
      assert.equal(warned.length, 1, warned.join('\n'));
      assert.match(
        warned[0]!,
        /^cache: redis not connected 200 ms after start \(status \w+.*\): the cache serves from L1 alone and keeps trying$/,
      );
      t.mock.timers.tick(10_000);
      assert.equal(warned.length, 1, 'once');
    } finally {
      t.mock.timers.reset();
      await s.close();
    }
  });

  test('with no Redis, waiting for the first connection is bounded in time and in number of calls', async (t) => {
    const port = await freePort();
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const warned: string[] = [];
    const s = new RedisStore({
      url: `redis://127.0.0.1:${port}`,
      commandTimeout: 200,
      maxPending: 2 * MAX_WAITING,
      onWarn: (_fields, message) => warned.push(message),
    });
    try {
      let settled = 0;
      const waiting = Array.from({ length: MAX_WAITING }, (_, i) =>
        s
          .get(`k${i}`)
          .then(
            () => 'resolved',
            (err: HeadroomError) => `${err.code} ${err.message}`,
          )
          .finally(() => settled++),
      );
      await assert.rejects(s.get('one too many'), {
        code: 'HEADROOM_CACHE_STORE_UNAVAILABLE',
        message: /already waiting for the first connection/,
      });
      t.mock.timers.tick(199);
      await turn();
      assert.equal(settled, 0, 'the one too many was refused at once; the others wait the whole commandTimeout');
      t.mock.timers.tick(1);
      const outcomes = new Set(await Promise.all(waiting));
      // The wait for the connection and the call's deadline (redis-gate.ts) end together: either says so.
      assert.deepEqual(
        [...outcomes].map((m) =>
          m.replace(/\(status \w+\)/, '').replace('no answer within 200 ms (commandTimeout)', 'not connected within 200 ms of start '),
        ),
        ['HEADROOM_CACHE_STORE_UNAVAILABLE redis: not connected within 200 ms of start '],
      );
      assert.deepEqual(warned, [], 'the calls that waited say it (the cache logs their failure)');
      // After that a call fails at once (as after any later disconnect), without waiting for a timer.
      const late = s.set('k', entry(Buffer.from('v')));
      assert.equal(await settles(late), true);
      await assert.rejects(late, (err: HeadroomError) => {
        assert.equal(err.code, 'HEADROOM_CACHE_STORE_UNAVAILABLE', 'raised with the store code');
        // Said as it is, not as ioredis's "Stream isn't writeable and enableOfflineQueue options is false".
        assert.match(err.message, /^redis: not connected \(status \w+(; last error: .*)?\)$/);
        return true;
      });
    } finally {
      t.mock.timers.reset(); // close() waits out ioredis's disconnect timer
      await s.close();
    }
  });

  test('a stream whose connection fails part way ends with HEADROOM_CACHE_STORE_UNAVAILABLE; a corrupt one with HEADROOM_CACHE_STORE_CORRUPT', async () => {
    const s = await store({ chunkSize: 16 * 1024 });
    try {
      const p = `c${n}:`;
      await s.set('big', entry(Buffer.alloc(10 * 16 * 1024, 1)));
      const st = await s.getStream('big');
      assert.ok(st);
      const it = st.stream[Symbol.asyncIterator]();
      await it.next(); // the first chunk arrived
      s.client.disconnect();
      await assert.rejects(
        async () => {
          while (!(await it.next()).done);
        },
        { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' },
      );
      const [chunks] = await raw.keys(`${p}c:*`);
      await raw.hdel(chunks!, '3');
      const again = new RedisStore({ url: redis.url, keyPrefix: p });
      try {
        const broken = await again.getStream('big');
        await assert.rejects(
          async () => {
            for await (const _ of broken!.stream) void _;
          },
          { code: 'HEADROOM_CACHE_STORE_CORRUPT', message: /chunk 3 of big is missing/ },
        );
      } finally {
        await again.close();
      }
    } finally {
      await s.close();
    }
  });

  test('a chunked write leaves no working key behind, whether it lands or an invalidation stops it half way', async () => {
    const s = await store(); // chunks of 256 KiB
    try {
      const p = `c${n}:`;
      const tagged = () => meta({ tags: ['t'] });
      await s.setStream('landed', new PassThrough().end(Buffer.alloc(600 * 1024, 1)), tagged());
      assert.deepEqual((await raw.keys(`${p}p*`)).sort(), [], 'no pending sets after a commit');
      assert.equal((await raw.keys(`${p}c:*`)).length, 1, "the value's chunks");
      for (const invalidate of [() => s.invalidateByTag('t'), () => s.delete('k'), () => s.clear()]) {
        const src = new PassThrough();
        const write = s.setStream('k', src, tagged());
        src.write(Buffer.alloc(300 * 1024, 2)); // one chunk sent
        await turn();
        await invalidate();
        // The next chunk must not recreate the chunk hash (it would have no TTL if the writer died
        // before its commit). 'drain' after the last write: the chunk before it has been sent.
        src.write(Buffer.alloc(300 * 1024, 3));
        if (!src.write(Buffer.alloc(64 * 1024, 4))) await once(src, 'drain');
        const chunks = await raw.keys(`${p}c:*`);
        assert.ok(chunks.length <= 1, "only the value's chunks (gone after clear)");
        for (const c of chunks) assert.notEqual(await raw.pttl(c), -1, `${c} has no TTL`);
        src.end();
        await write;
        assert.equal(await raw.exists(`${p}v:k`), 0);
      }
    } finally {
      await s.close();
    }
  });
});
