// One contract suite for every L2 store (disk, redis), in the manner of bentocache's
// driver_test_suite: each store gets the same behaviour checks against the real backend.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { ValueType, type Encoded, type Meta } from '../../src/cache/codec.js';
import type { L2Store } from '../../src/cache/stores/types.js';
import { waitFor } from '../helpers/wait.js';

export function entry(payload: Buffer, o: Partial<Encoded> = {}): Encoded {
  return { ...meta(), payload, ...o };
}

/** What a write stores beside the value (setStream's meta): binary, fresh for a minute, no tags unless given. */
export function meta(o: Partial<Meta> = {}): Meta {
  const expiresAt = Date.now() + 60_000;
  return { type: ValueType.Binary, expiresAt, staleUntil: expiresAt, tags: [], ...o };
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Registers the contract tests; `make` returns a fresh, empty store. */
export function storeContract(name: string, make: () => Promise<L2Store>): void {
  const use = (fn: (s: L2Store) => Promise<void>) => async () => {
    const s = await make();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };

  test(
    `${name}: get on a missing key is undefined`,
    use(async (s) => {
      assert.equal(await s.get('nope'), undefined);
      assert.equal(await s.getStream('nope'), undefined);
    }),
  );

  test(
    `${name}: binary, string and JSON payloads round-trip byte for byte`,
    use(async (s) => {
      const bin = randomBytes(1000);
      await s.set('bin', entry(bin));
      await s.set('str', entry(Buffer.from('héllo ✓'), { type: ValueType.String }));
      await s.set('json', entry(Buffer.from('{"a":[1,2]}'), { type: ValueType.Json, tags: ['t1', 't2'] }));
      const b = await s.get('bin');
      assert.ok(b);
      assert.equal(b.type, ValueType.Binary);
      assert.ok(b.payload.equals(bin));
      assert.equal((await s.get('str'))?.payload.toString(), 'héllo ✓');
      const j = await s.get('json');
      assert.equal(j?.type, ValueType.Json);
      assert.deepEqual(j?.tags, ['t1', 't2']);
    }),
  );

  test(
    `${name}: overwrite replaces, delete removes`,
    use(async (s) => {
      await s.set('k', entry(Buffer.from('one')));
      await s.set('k', entry(Buffer.from('two')));
      assert.equal((await s.get('k'))?.payload.toString(), 'two');
      await s.delete('k');
      assert.equal(await s.get('k'), undefined);
      await s.delete('k'); // idempotent
    }),
  );

  test(
    `${name}: entries past staleUntil are gone; stale ones within grace are returned`,
    use(async (s) => {
      const now = Date.now();
      await s.set('stale', entry(Buffer.from('s'), { expiresAt: now - 10, staleUntil: now + 60_000 }));
      const st = await s.get('stale');
      assert.ok(st && st.expiresAt < Date.now());
      // Long enough to be read back on a loaded machine before it expires (the check is not vacuous).
      const soon = Date.now() + 500;
      await s.set('short', entry(Buffer.from('x'), { expiresAt: soon, staleUntil: soon }));
      await s.set('short-stream', entry(Buffer.from('x'), { expiresAt: soon, staleUntil: soon }));
      assert.ok(await s.get('short'));
      await waitFor(async () => (await s.get('short')) === undefined, 'the entry to expire');
      await waitFor(async () => (await s.getStream('short-stream')) === undefined, 'the streamed entry to expire');
      await s.set('forever', entry(Buffer.from('f'), { expiresAt: Infinity, staleUntil: Infinity }));
      assert.equal((await s.get('forever'))?.expiresAt, Infinity);
    }),
  );

  test(
    `${name}: long keys and many tags (a header of several KiB) round-trip, streamed too`,
    use(async (s) => {
      const key = `k:${'é'.repeat(3000)}`;
      const tags = Array.from({ length: 200 }, (_, i) => `tag-${i}`);
      await s.set(key, entry(Buffer.from('v'), { tags }));
      assert.deepEqual((await s.get(key))?.tags, tags);
      const st = await s.getStream(key);
      assert.equal((await collect(st!.stream)).toString(), 'v');
      await s.invalidateByTag('tag-199');
      assert.equal(await s.get(key), undefined);
    }),
  );

  test(
    `${name}: tag invalidation removes every tagged key and nothing else`,
    use(async (s) => {
      await s.set('a', entry(Buffer.from('a'), { tags: ['users'] }));
      await s.set('b', entry(Buffer.from('b'), { tags: ['users', 'x'] }));
      await s.set('c', entry(Buffer.from('c'), { tags: ['x'] }));
      await s.invalidateByTag('users');
      assert.equal(await s.get('a'), undefined);
      assert.equal(await s.get('b'), undefined);
      assert.ok(await s.get('c'));
      await s.invalidateByTag('never-used');
    }),
  );

  test(
    `${name}: clear removes everything`,
    use(async (s) => {
      await s.set('a', entry(Buffer.from('a')));
      await s.set('b', entry(Buffer.from('b'), { tags: ['t'] }));
      await s.clear();
      assert.equal(await s.get('a'), undefined);
      assert.equal(await s.get('b'), undefined);
    }),
  );

  test(
    `${name}: large values stream in and out intact (multi-chunk)`,
    use(async (s) => {
      const big = randomBytes(1_300_000);
      const chunks = [];
      for (let i = 0; i < big.length; i += 64 * 1024) chunks.push(big.subarray(i, i + 64 * 1024));
      const n = await s.setStream('big', Readable.from(chunks), meta({ tags: ['media'] }), big.length);
      assert.equal(n, big.length);
      const got = await s.getStream('big');
      assert.ok(got);
      assert.equal(got.size, big.length);
      assert.ok((await collect(got.stream)).equals(big));
      assert.ok((await s.get('big'))?.payload.equals(big));
      await s.set('big2', entry(big)); // set() of a large value
      assert.ok((await s.get('big2'))?.payload.equals(big));
      await s.invalidateByTag('media');
      assert.equal(await s.getStream('big'), undefined);
    }),
  );

  test(
    `${name}: a reader of a large value racing an overwrite or delete gets the old value whole; the new value survives`,
    use(async (s) => {
      const one = randomBytes(1_300_000);
      const two = randomBytes(1_300_000);
      const readRacing = async (race: () => Promise<void>): Promise<Buffer> => {
        const got = await s.getStream('big');
        assert.ok(got);
        const it = got.stream[Symbol.asyncIterator]();
        const parts: Buffer[] = [];
        const first = await it.next();
        parts.push(first.value as Buffer);
        await race();
        for (;;) {
          const n = await it.next();
          if (n.done === true) break;
          parts.push(n.value as Buffer);
        }
        return Buffer.concat(parts);
      };
      await s.set('big', entry(one));
      assert.ok((await readRacing(() => s.set('big', entry(two)))).equals(one), 'the reader got the value it started with');
      assert.ok((await s.get('big'))?.payload.equals(two), 'the newer value was not deleted');
      assert.equal(s.stats().corrupt, 0);
      assert.ok((await readRacing(() => s.set('big', entry(Buffer.from('small'))))).equals(two));
      assert.equal((await s.get('big'))?.payload.toString(), 'small');
      await s.set('big', entry(one));
      assert.ok((await readRacing(() => s.delete('big'))).equals(one));
      assert.equal(await s.get('big'), undefined);
      assert.equal(s.stats().corrupt, 0);
    }),
  );

  test(
    `${name}: a stream that does not match its declared size is rejected and not stored`,
    use(async (s) => {
      await assert.rejects(s.setStream('short', Readable.from([Buffer.alloc(10)]), meta(), 20));
      await assert.rejects(s.setStream('long', Readable.from([Buffer.alloc(30)]), meta(), 20));
      assert.equal(await s.get('short'), undefined);
      assert.equal(await s.get('long'), undefined);
    }),
  );

  // A write that started before an invalidation of its tag, its key or everything must not survive
  // it, wherever the write was when the invalidation came (swept over event-loop turns; every
  // round must hold, so the outcome does not depend on timing).
  const invalidations = (s: L2Store): [string, () => Promise<void>][] => [
    ['invalidateByTag', () => s.invalidateByTag('t')],
    ['delete', () => s.delete('k')],
    ['clear', () => s.clear()],
  ];

  test(
    `${name}: a set() in flight does not survive an invalidation of its tag, key or everything`,
    use(async (s) => {
      for (const [what, invalidate] of invalidations(s)) {
        for (let turns = 0; turns < 12; turns++) {
          const write = s.set('k', entry(Buffer.from(`old ${turns}`), { tags: ['t'] }));
          for (let i = 0; i < turns; i++) await turn();
          await invalidate();
          await write;
          assert.equal(await s.get('k'), undefined, `${what} after ${turns} turns`);
        }
        // A large value (chunked in Redis) too.
        const big = s.set('k', entry(randomBytes(600 * 1024), { tags: ['t'] }));
        await invalidate();
        await big;
        assert.equal(await s.get('k'), undefined, `${what}: large value`);
        // A write that starts after the invalidation stands.
        await s.set('k', entry(Buffer.from('new'), { tags: ['t'] }));
        assert.equal((await s.get('k'))?.payload.toString(), 'new', what);
        await s.delete('k');
      }
    }),
  );

  test(
    `${name}: a setStream() held part way while its tag, key or everything is invalidated is not stored`,
    use(async (s) => {
      const tagged = () => meta({ tags: ['t', 'other'] });
      for (const [what, invalidate] of invalidations(s)) {
        for (const payload of [[Buffer.alloc(1000, 1), Buffer.alloc(1000, 2)], []]) {
          const src = new PassThrough();
          const write = s.setStream('k', src, tagged());
          if (payload.length > 0) src.write(payload[0]);
          await turn();
          await invalidate(); // completes while the write still waits for data
          src.end(payload[1]);
          await write;
          assert.equal(await s.get('k'), undefined, `${what}, ${payload.length === 0 ? 'empty' : 'two chunks'}`);
          assert.equal(await s.getStream('k'), undefined, what);
        }
        // Unrelated writes in flight at the same time are kept.
        const src = new PassThrough();
        const write = s.setStream('kept', src, meta({ tags: ['other'] }));
        await turn();
        if (what !== 'clear') await invalidate();
        src.end(Buffer.from('kept'));
        await write;
        assert.equal((await s.get('kept'))?.payload.toString(), 'kept', what);
        await s.delete('kept');
      }
    }),
  );

  test(`${name}: close() called twice returns the same promise`, async () => {
    const s = await make();
    await s.set('k', entry(Buffer.from('v')));
    const first = s.close();
    const second = s.close();
    assert.equal(second, first, 'the second call returns the close in flight, not a promise of its own');
    await Promise.all([first, second]);
    assert.equal(s.close(), first, 'and so does a call after it settled');
  });

  test(`${name}: close() waits for the operations in flight and refuses those called after it`, async () => {
    const s = await make();
    let settled = 0;
    const count = (): void => void settled++;
    // Started, not awaited: close() is called while they are in flight (a disk write still making its
    // directories made them again after close() had resolved; a Redis Cluster store quit with a
    // command still pending).
    const ops = [s.set('a', entry(randomBytes(64 * 1024))), s.setStream('b', Readable.from([randomBytes(1024)]), meta()), s.get('a')];
    for (const op of ops) op.then(count, count);
    const closing = s.close();
    await assert.rejects(s.get('a'), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' }, 'a get called while closing');
    await closing;
    await turn();
    assert.equal(settled, ops.length, 'every operation in flight had settled when close() resolved');
  });

  test(`${name}: close() ends a streamed write whose source has stalled, destroying the source`, async () => {
    const s = await make();
    const source = new PassThrough();
    source.write(randomBytes(1024)); // one chunk, then nothing: an upload or upstream that stopped
    const outcome = s.setStream('stalled', source, meta()).then(
      () => undefined,
      (err: unknown) => err,
    );
    await waitFor(() => source.readableLength === 0, 'the store read the first chunk');
    await s.close(); // would wait for the next chunk for ever
    assert.equal(source.destroyed, true, 'the source is destroyed');
    const err = (await outcome) as { code?: string; message?: string } | undefined;
    assert.equal(err?.code, 'HEADROOM_CACHE_STORE_UNAVAILABLE');
    assert.match(String(err?.message), /closed during the write/);
  });

  test(`${name}: operations after close() are refused with the store's code`, async () => {
    const s = await make();
    await s.set('a', entry(Buffer.from('a')));
    await s.close();
    for (const [what, attempt] of [
      ['get', () => s.get('a')],
      ['set', () => s.set('c', entry(Buffer.from('c')))],
      ['setStream', () => s.setStream('d', Readable.from([Buffer.from('d')]), meta())],
      ['invalidateByTag', () => s.invalidateByTag('t')],
      ['sweep', () => s.sweep()],
    ] as const) {
      await assert.rejects(attempt(), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' }, `${what} after close()`);
    }
    const source = Readable.from([Buffer.from('e')]);
    await assert.rejects(s.setStream('e', source, meta()), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' });
    assert.equal(source.destroyed, false, 'a write refused before it began leaves its source as it is');
  });

  test(
    `${name}: stats report the store as connected`,
    use(async (s) => {
      await s.set('a', entry(Buffer.from('a')));
      await s.sweep();
      const st = s.stats();
      assert.equal(st.connected, true);
      assert.ok(st.keyCount === null || st.keyCount >= 1);
    }),
  );
}
