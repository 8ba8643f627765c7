import { FakePressure } from '../helpers/pressure.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createCache, type Cache, type CacheOptions, type GetOrSetOptions } from '../../src/cache/index.js';
import { statusOf, type HeadroomError } from '../../src/errors.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { mockClock, settles, turn } from './mock-clock.js';

const root = mkdtempSync(join(tmpdir(), 'headroom-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A promise the test resolves when it chooses (a loader held part way, an arrival signal). */
function gate(): { wait: Promise<void>; release: () => void } {
  let release!: () => void;
  const wait = new Promise<void>((r) => (release = r));
  return { wait, release };
}

async function read(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const variants: [string, () => CacheOptions][] = [
  ['L1 only', () => ({ disk: false })],
  ['L1 + disk', () => ({ disk: { dir: join(root, `d${++n}`) } })],
];

for (const [name, opts] of variants) {
  describe(`cache API (${name})`, () => {
    const use =
      (fn: (c: Cache) => Promise<void>, extra: CacheOptions = {}) =>
      async () => {
        const c = createCache({ ...opts(), ...extra });
        try {
          await fn(c);
        } finally {
          await c.close();
        }
      };

    test(
      'set/get/has/delete for JSON, strings, Buffers and Uint8Arrays',
      use(async (c) => {
        await c.set('obj', { a: 1, b: ['x', null] });
        await c.set('str', 'héllo');
        await c.set('buf', Buffer.from([0, 255, 1]));
        await c.set('u8', new Uint8Array([7, 8]));
        await c.set('num', 42);
        await c.set('nul', null);
        assert.deepEqual(await c.get('obj'), { a: 1, b: ['x', null] });
        assert.equal(await c.get('str'), 'héllo');
        const buf = await c.get<Buffer>('buf');
        assert.ok(Buffer.isBuffer(buf));
        assert.deepEqual([...buf], [0, 255, 1]);
        const u8 = await c.get<Buffer>('u8');
        assert.ok(Buffer.isBuffer(u8), 'a Uint8Array comes back as bytes');
        assert.deepEqual([...u8], [7, 8]);
        assert.equal(await c.get('num'), 42);
        assert.equal(await c.get('nul'), null);
        assert.equal(await c.has('obj'), true);
        await c.delete('obj');
        assert.equal(await c.has('obj'), false);
        assert.equal(await c.get('obj'), undefined);
        assert.equal(await c.get('missing'), undefined);
      }),
    );

    test(
      'transfer: an owning Buffer is kept as is; views into a larger buffer and plain sets are copied',
      use(async (c) => {
        const owned = Buffer.allocUnsafeSlow(64 * 1024).fill(3);
        await c.set('owned', owned, { transfer: true });
        assert.equal(await c.get('owned'), owned, 'the same Buffer, no copy');
        const slab = Buffer.alloc(1024, 5);
        const view = slab.subarray(100, 200);
        await c.set('view', view, { transfer: true });
        const got = await c.get<Buffer>('view');
        assert.notEqual(got, view);
        assert.equal(got!.buffer.byteLength, 100, 'the slab is not retained');
        const plain = Buffer.from('abc');
        await c.set('plain', plain);
        plain.write('x');
        assert.equal((await c.get<Buffer>('plain'))!.toString(), 'abc', 'without transfer the cache owns a copy');
      }),
    );

    test(
      'rejects values that are not JSON-serialisable or bytes, and bad TTLs',
      use(async (c) => {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        await assert.rejects(c.set('c', circular), { code: 'HEADROOM_CACHE_VALUE_INVALID' });
        await assert.rejects(c.set('u', undefined), { code: 'HEADROOM_CACHE_VALUE_INVALID' });
        await assert.rejects(
          c.set('f', () => 1),
          { code: 'HEADROOM_CACHE_VALUE_INVALID', message: 'a function is not JSON-serialisable' },
        );
        await assert.rejects(c.set('j', { toJSON: () => undefined }), {
          code: 'HEADROOM_CACHE_VALUE_INVALID',
          message: 'an object whose toJSON() returned undefined is not JSON-serialisable',
        });
        await assert.rejects(c.set('t', 1, { ttl: -5 }), {
          code: 'HEADROOM_CONFIG_INVALID',
          message: 'cache.set("t"): ttl=-5: must be a number of milliseconds above 0 up to 100 years, or Infinity',
        });
      }),
    );

    test(
      "a call's own mistakes are refused before anything is stored, naming the call and the option",
      use(async (c) => {
        const refused = async (p: Promise<unknown>, message: string | RegExp): Promise<void> => {
          await assert.rejects(p, (err: { code?: string; message: string }) => {
            assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
            if (typeof message === 'string') assert.equal(err.message, message);
            else assert.match(err.message, message);
            return true;
          });
        };
        // A string is not a list of tags (it was read as one tag per letter).
        await refused(
          c.set('k', 1, { tags: 'users' as unknown as string[] }),
          'cache.set("k"): tags must be an array of non-empty strings, got string',
        );
        await refused(c.set('k', 1, { tags: [''] }), /tags must be non-empty strings, got ""/);
        await refused(c.set('k', 1, { tags: [1 as unknown as string] }), /tags must be non-empty strings, got 1/);
        await refused(
          c.set('k', 1, { ttl: 1e20 }),
          /ttl=100000000000000000000: must be a number of milliseconds above 0 up to 100 years, or Infinity/,
        );
        await refused(c.set('k', 1, { ttl: '5m' as unknown as number }), /ttl="5m"/);
        await refused(c.set('k', 1, { grace: -1 }), /grace=-1: must be a number of milliseconds from 0/);
        await refused(
          c.set('k', 1, { tll: 5 } as never),
          'cache.set("k"): unknown option tll (did you mean ttl?); accepted: ttl, tags, grace, transfer',
        );
        await refused(c.set('k', 1, 'ttl' as never), /options must be an object \(ttl, tags, grace, transfer\), got string/);
        await refused(c.set(5 as unknown as string, 1), 'cache.set: the key must be a string, got number');
        await refused(c.get(null as unknown as string), 'cache.get: the key must be a string, got null');
        await refused(c.delete({} as unknown as string), 'cache.delete: the key must be a string, got object');
        const loader = async (): Promise<number> => 1;
        for (const timeout of ['1s', -5, 0, NaN])
          await refused(
            c.getOrSet('g', loader, { timeout: timeout as number }),
            /cache.getOrSet\("g"\): timeout=.*: must be a number of milliseconds above 0/,
          );
        await refused(c.getOrSet('g', 'not a function' as never), /the loader must be a function, got string/);
        await refused(c.setStream('s', 'bytes' as never, {}), /cache.setStream\("s"\): the value must be a Readable stream, got string/);
        await refused(c.setStream('s', Readable.from([]), { size: -1 }), /size=-1/);
        await refused(c.invalidateByTag(''), 'cache.invalidateByTag: the tag must be a non-empty string, got ""');
        assert.equal(await c.has('k'), false, 'nothing was stored');
        assert.equal(await c.getOrSet('g', loader, { timeout: 1000, ttl: Infinity, grace: 0 }), 1, 'good options still work');
      }),
    );

    test(
      'every binary shape is stored as its bytes and comes back as a Buffer (an ArrayBuffer is never JSON {})',
      use(async (c) => {
        const bytes = Buffer.from([0, 1, 2, 250, 255]);
        const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
        const f64 = new Float64Array([1.5, -2]);
        const shapes: [string, unknown, Buffer][] = [
          ['arraybuffer', ab, bytes],
          ['dataview', new DataView(ab, 1, 3), bytes.subarray(1, 4)],
          ['float64', f64, Buffer.from(f64.buffer)],
          [
            'shared',
            (() => {
              const sab = new SharedArrayBuffer(3);
              new Uint8Array(sab).set([7, 8, 9]);
              return sab;
            })(),
            Buffer.from([7, 8, 9]),
          ],
        ];
        for (const [key, value, expected] of shapes) {
          await c.set(key, value);
          const got = await c.get<Buffer>(key);
          assert.ok(Buffer.isBuffer(got), key);
          assert.deepEqual(got, expected, key);
        }
      }),
    );

    test('TTL expiry', async (t) => {
      await mockClock(t);
      await use(async (c) => {
        await c.set('k', 'v', { ttl: 30 });
        await c.set('forever', 'v', { ttl: Infinity });
        t.mock.timers.tick(29);
        assert.equal(await c.get('k'), 'v');
        t.mock.timers.tick(1);
        assert.equal(await c.get('k'), undefined);
        assert.equal(await c.has('k'), false);
        t.mock.timers.tick(365 * 24 * 3_600_000);
        assert.equal(await c.get('forever'), 'v');
      })();
    });

    test(
      'tag invalidation and invalidateAll',
      use(async (c) => {
        await c.set('u1', 1, { tags: ['users'] });
        await c.set('u2', 2, { tags: ['users', 'admins'] });
        await c.set('p1', 3, { tags: ['posts'] });
        await c.invalidateByTag('users');
        assert.equal(await c.get('u1'), undefined);
        assert.equal(await c.get('u2'), undefined);
        assert.equal(await c.get('p1'), 3);
        await c.invalidateAll();
        assert.equal(await c.get('p1'), undefined);
      }),
    );

    test(
      'getOrSet: 1,000 concurrent callers run the loader once',
      use(async (c) => {
        let calls = 0;
        const g = gate();
        const loader = async () => {
          calls++;
          await g.wait;
          return { v: 'loaded' };
        };
        const all = Promise.all(Array.from({ length: 1000 }, () => c.getOrSet('k', loader)));
        g.release();
        const results = await all;
        assert.equal(calls, 1);
        assert.ok(results.every((r) => r.v === 'loaded'));
        assert.ok(c.stats().singleFlight.deduplicated >= 999);
        assert.deepEqual(await c.getOrSet('k', loader), { v: 'loaded' });
        assert.equal(calls, 1);
      }),
    );

    test(
      'getOrSet: a loader error reaches every waiter and is not cached',
      use(async (c) => {
        let calls = 0;
        const g = gate();
        const failing = async () => {
          calls++;
          await g.wait;
          throw new Error('boom');
        };
        const all = Promise.allSettled(Array.from({ length: 50 }, () => c.getOrSet('k', failing)));
        g.release();
        const settled = await all;
        assert.equal(calls, 1);
        assert.ok(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'boom'));
        assert.equal(await c.getOrSet('k', () => 'ok'), 'ok');
        assert.equal(c.stats().loader?.errors, 1);
      }),
    );

    test('getOrSet: loader timeout is HEADROOM_CACHE_LOADER_TIMEOUT', async (t) => {
      await mockClock(t);
      await use(async (c) => {
        const started = gate();
        const p = c.getOrSet('slow', () => (started.release(), new Promise<number>(() => {})), { timeout: 20 });
        await started.wait; // the timeout runs from here
        t.mock.timers.tick(19);
        assert.equal(await settles(p), false, 'still waiting 1 ms before the timeout');
        t.mock.timers.tick(1);
        await assert.rejects(p, (err: HeadroomError) => {
          assert.equal(err.code, 'HEADROOM_CACHE_LOADER_TIMEOUT');
          assert.equal(err.statusCode, statusOf('HEADROOM_CACHE_LOADER_TIMEOUT'));
          return true;
        });
        assert.equal(await c.get('slow'), undefined);
        assert.equal(c.stats().loader?.timeouts, 1);
      })();
    });

    test('getOrSet: each caller waits under its own timeout; the load ends when it settles or its last waiter gives up', async (t) => {
      await mockClock(t);
      await use(async (c) => {
        let calls = 0;
        /** A loader that signals when it starts and returns `value` once released. */
        const held = (value: string) => {
          const started = gate();
          const g = gate();
          const loader = async () => (calls++, started.release(), await g.wait, value);
          return { loader, started: started.wait, release: g.release };
        };
        const other = () => (calls++, 'other');
        const l = held('v');
        const impatient = c.getOrSet('k', l.loader, { timeout: 50 });
        await l.started;
        const patient = c.getOrSet('k', other, { timeout: 5_000 });
        t.mock.timers.tick(50);
        await assert.rejects(impatient, { code: 'HEADROOM_CACHE_LOADER_TIMEOUT', message: /within 50 ms/ });
        assert.equal(await settles(patient), false, "the impatient caller's timeout is not the patient one's");
        // Still one flight: a later caller joins it, the loader is not run again.
        const late = c.getOrSet('k', other, { timeout: 5_000 });
        t.mock.timers.tick(4_000);
        assert.equal(await settles(patient), false);
        l.release();
        assert.equal(await patient, 'v');
        assert.equal(await late, 'v');
        assert.equal(calls, 1);
        assert.equal(await c.get('k'), 'v', 'cached: a caller was still waiting when it came');
        assert.equal(c.stats().loader?.timeouts, 1, 'one caller timed out');

        // Every caller timed out: the flight is given up, the next call loads again, and the late
        // value of the first load is cached nowhere.
        const slow = held('old');
        const a = c.getOrSet('x', slow.loader, { timeout: 20 });
        await slow.started;
        const b = c.getOrSet('x', other, { timeout: 40 });
        t.mock.timers.tick(20);
        await assert.rejects(a, { code: 'HEADROOM_CACHE_LOADER_TIMEOUT' });
        assert.equal(await settles(b), false, 'the load goes on for the longest timeout');
        assert.equal(c.stats().singleFlight.inFlight, 1);
        t.mock.timers.tick(20);
        await assert.rejects(b, { code: 'HEADROOM_CACHE_LOADER_TIMEOUT', message: /within 40 ms/ });
        assert.equal(c.stats().singleFlight.inFlight, 0);
        assert.equal(await c.getOrSet('x', () => 'fresh'), 'fresh', 'a new load, not a wait for the abandoned one');
        slow.release();
        await turn();
        assert.equal(await c.get('x'), 'fresh', 'the abandoned load did not overwrite the fresh value');
        assert.equal(c.stats().loader?.timeouts, 3);
      })();
    });

    test("getOrSet: the entry a flight stores carries every joined caller's tags and the shortest ttl and grace", async (t) => {
      await mockClock(t);
      await use(async (c) => {
        /** Starts a load held until released, then joins it with `joined`: both callers get the value. */
        const together = async (key: string, first: GetOrSetOptions, joined: GetOrSetOptions) => {
          const started = gate();
          const g = gate();
          const a = c.getOrSet(key, async () => (started.release(), await g.wait, key), first);
          await started.wait;
          const b = c.getOrSet(key, () => 'never', joined);
          g.release();
          assert.deepEqual(await Promise.all([a, b]), [key, key]);
        };
        await together('user:1', { ttl: 60_000 }, { ttl: 60_000, tags: ['users'] });
        await together('user:2', { ttl: 60_000, tags: ['admins'] }, { ttl: 60_000, tags: ['users'] });
        await c.invalidateByTag('users');
        assert.equal(await c.get('user:1'), undefined, "the joined caller's tag reached the stored entry");
        assert.equal(await c.get('user:2'), undefined);
        await together('user:3', { ttl: 60_000, tags: ['admins'] }, { ttl: 60_000, tags: ['users'] });
        await c.invalidateByTag('admins');
        assert.equal(await c.get('user:3'), undefined, "and the first caller's tags stay");

        await together('short', { ttl: 3_600_000 }, { ttl: 100 });
        await together('graced', { ttl: 100, grace: 60_000 }, { ttl: 100 });
        t.mock.timers.tick(101);
        assert.equal(await c.get('short'), undefined, 'the shortest ttl');
        let loads = 0;
        assert.equal(await c.getOrSet('graced', () => (loads++, 'reloaded'), { grace: 60_000 }), 'reloaded', 'the shortest grace (none)');
        assert.equal(loads, 1);
      })();
    });

    test('getOrSet with grace serves stale while one background refresh runs', async (t) => {
      await mockClock(t);
      await use(async (c) => {
        let version = 0;
        let running = 0;
        let maxRunning = 0;
        let hold = Promise.resolve();
        const loader = async () => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await hold;
          running--;
          return ++version;
        };
        assert.equal(await c.getOrSet('k', loader, { ttl: 30, grace: 10_000 }), 1);
        t.mock.timers.tick(50); // now stale
        const g = gate();
        hold = g.wait; // the refresh stays in flight until released
        const stale = await Promise.all(Array.from({ length: 20 }, () => c.getOrSet('k', loader, { ttl: 30, grace: 10_000 })));
        assert.ok(
          stale.every((v) => v === 1),
          'stale value served at once',
        );
        assert.equal(await c.get('k'), undefined, 'get() does not serve stale values');
        g.release();
        assert.equal(await c.getOrSet('k', loader), 2, 'a call without grace waits for the refresh in flight');
        assert.equal(maxRunning, 1);
        assert.equal(version, 2, 'exactly one refresh');
        assert.equal(await c.getOrSet('k', loader, { ttl: 30_000, grace: 10_000 }), 2);
        // A failing refresh keeps the stale value.
        await c.set('e', 'old', { ttl: 20, grace: 10_000 });
        t.mock.timers.tick(40);
        assert.equal(await c.getOrSet('e', () => Promise.reject(new Error('down')), { grace: 10_000 }), 'old');
        assert.equal(await c.getOrSet('e', () => Promise.reject(new Error('down')), { grace: 10_000 }), 'old');
      })();
    });

    test(
      'getOrSet: a value loaded while its key or tag was invalidated is returned but not cached',
      use(async (c) => {
        // Starts a load that signals when it runs (after the L2 read), then waits to be released.
        const loading = async (key: string, value: string, options = {}) => {
          const started = gate();
          const g = gate();
          const p = c.getOrSet(key, async () => (started.release(), await g.wait, value), options);
          await started.wait;
          return { p, release: g.release };
        };
        // Tag invalidated during the load.
        let l = await loading('user:1', 'OLD', { tags: ['users'] });
        await c.invalidateByTag('users');
        l.release();
        assert.equal(await l.p, 'OLD', 'the caller still gets what the loader returned');
        assert.equal(await c.get('user:1'), undefined, 'but it was not cached');
        // Key deleted during the load.
        l = await loading('k', 'OLD');
        await c.delete('k');
        l.release();
        assert.equal(await l.p, 'OLD');
        assert.equal(await c.get('k'), undefined);
        // Key set during the load: the newer value stays.
        l = await loading('k', 'OLD');
        await c.set('k', 'NEW');
        l.release();
        assert.equal(await l.p, 'OLD');
        assert.equal(await c.get('k'), 'NEW');
        // Unrelated writes do not stop a load from being cached.
        l = await loading('k2', 'V');
        await c.set('other', 1);
        await c.delete('other2');
        l.release();
        assert.equal(await l.p, 'V');
        let calls = 0;
        assert.equal(await c.getOrSet('k2', () => (calls++, 'again')), 'V');
        assert.equal(calls, 0, 'cached');
      }),
    );

    test(
      'getStream/setStream round-trip binary (small values also land in L1)',
      use(async (c) => {
        const data = Buffer.alloc(300_000, 3);
        await c.setStream('s', Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), { size: data.length, tags: ['img'] });
        const got = await c.getStream('s');
        assert.ok(got);
        assert.equal(got.size, data.length);
        assert.ok((await read(got.stream)).equals(data));
        assert.ok((await c.get<Buffer>('s'))?.equals(data));
        await c.invalidateByTag('img');
        assert.equal(await c.getStream('s'), undefined);
        await c.set('j', { a: 1 });
        assert.equal((await read((await c.getStream('j'))!.stream)).toString(), '{"a":1}');
      }),
    );

    test(
      'setStream: a stream that breaks its declared size, or fails, rejects with its own error; nothing is cached, no L2 error is counted',
      use(async (c) => {
        for (const [chunks, size] of [
          [[Buffer.alloc(10)], 20],
          [[Buffer.alloc(10), Buffer.alloc(15)], 20],
        ] as const) {
          const src = Readable.from(chunks);
          await assert.rejects(c.setStream('k', src, { size }), (err: HeadroomError) => {
            assert.equal(err.code, 'HEADROOM_CACHE_STREAM_SIZE_MISMATCH');
            assert.equal(err.statusCode, statusOf('HEADROOM_CACHE_STREAM_SIZE_MISMATCH'));
            return true;
          });
          assert.equal(src.destroyed, true, 'the readable is consumed');
          assert.equal(await c.get('k'), undefined);
        }
        const failing = new Readable({ read() {} });
        failing.push(Buffer.alloc(100));
        setImmediate(() => failing.destroy(new Error('client went away')));
        await assert.rejects(c.setStream('k', failing, {}), /client went away/);
        assert.equal(await c.get('k'), undefined);
        assert.equal(c.stats().l2?.errors ?? 0, 0, "the caller's errors are not L2 failures");
        assert.equal(c.stats().l2?.breakerOpen ?? false, false);
      }),
    );

    test('close() ends a setStream whose stream has stalled: the stream is destroyed and the call rejects', async () => {
      const c = createCache(opts());
      const src = new PassThrough();
      src.write(Buffer.alloc(1024)); // one chunk, then nothing
      const outcome = c.setStream('stalled', src, {}).then(
        () => undefined,
        (err: unknown) => err,
      );
      await waitFor(() => src.readableLength === 0, 'the cache read the first chunk');
      await c.close(); // the disk store would wait for the next chunk for ever
      assert.equal(src.destroyed, true);
      const err = (await outcome) as Error & { code?: string };
      assert.match(String(err), /the cache was closed while setStream was reading the stream/);
      assert.equal(err.code, 'HEADROOM_DRAINING');
    });

    test(
      'stats and topKeys',
      use(async (c) => {
        await c.set('hot', 1);
        await c.set('warm', 2);
        for (let i = 0; i < 5; i++) await c.get('hot');
        await c.get('warm');
        await c.get('missing');
        const top = c.topKeys(1);
        assert.deepEqual(top, [{ key: 'hot', count: 5 }]);
        const s = c.stats();
        assert.equal(s.l1.hits, 6);
        assert.equal(s.l1.entries, 2);
        assert.ok(s.l1.bytes > 0);
        assert.ok(s.hitRatio > 0.8 && s.hitRatio < 1);
      }),
    );

    test('memory pressure: warning shrinks L1, critical empties it, healthy grows it back', async () => {
      const monitor = new FakePressure();
      const c = createCache({ ...opts(), l1: { maxBytes: 200_000, maxEntryBytes: 10_000 }, monitor, pressureShrinkRatio: 0.25 });
      for (let i = 0; i < 300; i++) await c.set(`k${i}`, 'x'.repeat(500));
      assert.ok(c.stats().l1.bytes > 150_000);
      monitor.emit('warning');
      assert.equal(c.stats().l1.effectiveMaxBytes, 50_000);
      assert.ok(c.stats().l1.bytes <= 50_000);
      monitor.emit('critical');
      assert.equal(c.stats().l1.entries, 0);
      monitor.emit('warning');
      assert.equal(c.stats().l1.effectiveMaxBytes, 0, 'grows back only when pressure ends');
      monitor.emit('healthy');
      assert.equal(c.stats().l1.effectiveMaxBytes, 200_000);
      await c.set('after', 'v');
      assert.equal(c.stats().l1.entries, 1);
      await c.close();
      assert.equal(monitor.listeners.size, 0, 'unsubscribed on close');
    });

    test('a cache created under pressure starts shrunk', async () => {
      const monitor = new FakePressure('critical');
      const c = createCache({ ...opts(), monitor });
      assert.equal(c.stats().l1.effectiveMaxBytes, 0);
      await c.close();
    });

    test('every call after close() rejects with HEADROOM_DRAINING and keeps nothing; a load running at close answers but is not kept', async () => {
      const c = createCache(opts());
      await c.set('k', 'v');
      const held = gate();
      const loading = c.getOrSet('slow', async () => (await held.wait, 'loaded'));
      await c.close();
      held.release();
      assert.equal(await loading, 'loaded', 'the caller of a load in flight still gets its value');
      assert.equal(c.stats().l1.entries, 0, 'nothing was put back into the closed cache');
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => c.get('k')],
        ['has', () => c.has('k')],
        ['set', () => c.set('k', 'v2')],
        ['delete', () => c.delete('k')],
        ['invalidateByTag', () => c.invalidateByTag('t')],
        ['invalidateAll', () => c.invalidateAll()],
        ['getOrSet', () => c.getOrSet('k', () => assert.fail('a closed cache must not run the loader'))],
        ['getStream', () => c.getStream('k')],
        ['setStream', () => c.setStream('k', Readable.from([Buffer.from('x')]), {})],
      ];
      for (const [call, run] of calls)
        await assert.rejects(run(), (err: HeadroomError) => {
          assert.equal(err.code, 'HEADROOM_DRAINING', call);
          assert.match(err.message, new RegExp(`cache\\.${call}\\(\\) was called after cache\\.close\\(\\)`));
          return true;
        });
      assert.equal(c.stats().l1.entries, 0);
    });

    test('close() is idempotent and leaves no handle behind', async () => {
      await assertNoLeakedHandles(async () => {
        const c = createCache({ ...opts(), cleanupInterval: 1000, monitor: new FakePressure() });
        await c.set('k', 'v');
        await c.getOrSet('g', () => 1);
        await c.close();
        await c.close();
        await c[Symbol.asyncDispose]();
      });
    });
  });
}

describe('cache with disk L2', () => {
  test('values too large for L1 live on disk; a restart finds them', async () => {
    const dir = join(root, 'restart');
    const a = createCache({ disk: { dir }, l1: { maxEntryBytes: 1000 } });
    const big = Buffer.alloc(50_000, 9);
    await a.set('big', big);
    await a.set('small', { ok: true }, { tags: ['t'] });
    assert.equal(a.stats().l1.entries, 1, 'big skipped L1');
    assert.ok((await a.get<Buffer>('big'))?.equals(big));
    assert.equal(a.stats().l2?.hits, 1);
    await a.close();
    const b = createCache({ disk: { dir } });
    assert.deepEqual(await b.get('small'), { ok: true });
    assert.ok((await b.get<Buffer>('big'))?.equals(big));
    await b.invalidateByTag('t');
    assert.equal(await b.get('small'), undefined);
    await b.close();
  });

  test('has() asks the disk for the entry, not its value: true for one above maxGetBytes, false once expired; nothing is read into L1', async () => {
    const c = createCache({ disk: { dir: join(root, 'has'), maxGetBytes: 4096 }, l1: { maxEntryBytes: 1000 } });
    const big = Buffer.alloc(50_000, 7);
    await c.set('big', big);
    await c.set('short', Buffer.alloc(2000, 1), { ttl: 1 });
    assert.equal(await c.get('big'), undefined, 'get() does not read it whole');
    assert.equal(await c.has('big'), true, 'it is there');
    await waitFor(async () => (await c.has('short')) === false, 'the short-lived entry to expire');
    assert.equal(await c.has('missing'), false);
    assert.equal(c.stats().l1.entries, 0);
    await c.close();
  });

  test('a key or tag with a lone surrogate is refused (it would share a file with U+FFFD); a string value with one comes back exactly', async () => {
    const dir = join(root, 'surrogates');
    const a = createCache({ disk: { dir }, l1: { maxEntryBytes: 1000 } });
    await a.set('\uFFFD', 'a');
    const refused =
      (call: string, what = 'key') =>
      (err: HeadroomError) => {
        assert.equal(err.code, 'HEADROOM_CONFIG_INVALID', call);
        assert.match(err.message, new RegExp(`${what} is not well-formed UTF-16 \\(a lone surrogate \\\\uD800 at index 1\\)`), call);
        return true;
      };
    await assert.rejects(a.set('x\uD800', 'b'), refused('set'));
    await assert.rejects(a.get('x\uD800'), refused('get'));
    await assert.rejects(a.has('x\uD800'), refused('has'));
    await assert.rejects(a.delete('x\uD800'), refused('delete'));
    await assert.rejects(
      a.getOrSet('x\uD800', () => 'b'),
      refused('getOrSet'),
    );
    await assert.rejects(a.getStream('x\uD800'), refused('getStream'));
    await assert.rejects(a.setStream('x\uD800', Readable.from([Buffer.from('b')]), {}), refused('setStream'));
    await assert.rejects(a.set('k', 'b', { tags: ['x\uD800'] }), refused('set tags', 'tag'));
    await assert.rejects(a.invalidateByTag('x\uD800'), refused('invalidateByTag', 'tag'));
    assert.equal(a.stats().l2?.errors, 0);
    // Values: a lone surrogate survives L1, and disk after a restart (small and too large for L1).
    const odd = 'abc\uD83D';
    const long = `${'x'.repeat(2000)}\uDC00`;
    await a.set('odd', odd);
    await a.set('long', long);
    assert.equal(await a.get('odd'), odd);
    assert.equal(await a.get('long'), long);
    await a.close();
    const b = createCache({ disk: { dir } });
    assert.equal(await b.get('\uFFFD'), 'a');
    assert.equal(await b.get('odd'), odd);
    assert.equal(await b.get('long'), long);
    await b.close();
  });

  test('L2 reads fill L1 even while unrelated keys are written at the same time', async () => {
    const dir = join(root, 'fill');
    const a = createCache({ disk: { dir } });
    for (let i = 0; i < 50; i++) await a.set(`k${i}`, { i });
    await a.set('race', 'OLD');
    await a.close();
    const c = createCache({ disk: { dir } });
    await Promise.all(Array.from({ length: 50 }, (_, i) => Promise.all([c.get(`k${i}`), c.set(`other${i}`, i)])));
    const l2Hits = c.stats().l2?.hits;
    assert.equal(l2Hits, 50);
    for (let i = 0; i < 50; i++) assert.deepEqual(await c.get(`k${i}`), { i });
    assert.equal(c.stats().l2?.hits, l2Hits, 'the second round was served from L1');
    // A write to the key itself during the read does block the copy (the read may be older).
    const read = c.get('race'); // L1 miss: reads L2
    await c.set('race', 'NEW');
    await read;
    assert.equal(await c.get('race'), 'NEW');
    await c.close();
  });

  test('invalidateAll() during in-flight disk writes is not an L2 failure (no error, breaker stays closed)', async () => {
    const c = createCache({ disk: { dir: join(root, 'clear-race') } });
    for (let round = 0; round < 3; round++) {
      const writes = Promise.all(Array.from({ length: 20 }, (_, i) => c.set(`x${i}`, 'v'.repeat(1000))));
      await c.invalidateAll();
      await writes;
    }
    assert.equal(c.stats().l2?.errors, 0);
    assert.equal(c.stats().l2?.breakerOpen, false);
    await c.set('after', 'a');
    await c.invalidateAll(); // clears L1 too, so the next get must come from disk
    await c.set('after2', 'b');
    assert.equal(c.stats().l2?.breakerOpen, false);
    await c.close();
  });

  test('a value too large for the disk cap is not a caller error for set() or setStream(), and the old value does not come back', async () => {
    const dir = join(root, 'too-big');
    const c = createCache({ disk: { dir, maxBytes: 1024 ** 2 }, l1: { maxEntryBytes: 4 * 1024 ** 2 } });
    const big = Buffer.alloc(3 * 1024 ** 2, 5);
    for (const [key, write] of [
      ['set', () => c.set('set', big)],
      ['declared', () => c.setStream('declared', Readable.from([big]), { size: big.length })],
      ['undeclared', () => c.setStream('undeclared', Readable.from([big.subarray(0, 1_500_000), big.subarray(1_500_000)]), {})],
    ] as const) {
      await c.set(key, 'old');
      await write(); // resolves
      const got = await c.get<Buffer>(key);
      if (key === 'undeclared') assert.equal(got, undefined, 'refused part way: stored nowhere');
      else assert.ok(got?.equals(big), `${key}: kept in L1 like set()`);
    }
    assert.equal(c.stats().l2?.errors, 0);
    assert.equal(c.stats().l2?.breakerOpen, false);
    // Chunks may be strings and Uint8Arrays too.
    await c.setStream('mixed', Readable.from(['ab', new Uint8Array([99, 100]), Buffer.from('e')], { objectMode: true }), {});
    assert.equal((await c.get<Buffer>('mixed'))?.toString(), 'abcde');
    // A stream that does not match its declared size still is the caller's error.
    await assert.rejects(c.setStream('bad', Readable.from([Buffer.alloc(10)]), { size: 20 }), {
      code: 'HEADROOM_CACHE_STREAM_SIZE_MISMATCH',
    });
    await c.close();
    const again = createCache({ disk: { dir, maxBytes: 1024 ** 2 } });
    for (const key of ['set', 'declared', 'undeclared'])
      assert.equal(await again.get(key), undefined, `${key}: the old value is gone from disk`);
    await again.close();
  });

  test('disk failures do not fail callers: L1 keeps serving', async () => {
    const dir = join(root, 'broken');
    const c = createCache({ disk: { dir } });
    await c.set('k', 'v');
    rmSync(dir, { recursive: true, force: true });
    // Make the store's directory a file so every write fails.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(dir, 'not a directory');
    await c.set('k2', 'v2');
    assert.equal(await c.get('k2'), 'v2');
    assert.equal(await c.getOrSet('k3', () => 'v3'), 'v3');
    assert.ok((c.stats().l2?.errors ?? 0) >= 1);
    await c.close();
    rmSync(dir, { force: true });
  });
});
