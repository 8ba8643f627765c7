// processBatch after the first failure: no new call starts and no new pull from the source starts;
// an item already being pulled when the failure came is dropped, and the source is closed. The
// source hands out items only when the test opens a gate, so the order of events is fixed (no timers).
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processBatch } from '../../src/streams/index.js';

interface Gate {
  promise: Promise<void>;
  open: () => void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
/** Every microtask has run (a rejection has gone all the way through the awaits above it). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('processBatch: after the first failure no call starts and no item is pulled (one already being pulled is dropped)', async () => {
  const gates = Array.from({ length: 10 }, gate);
  const asked: number[] = []; // next() calls on the source, by the number of items produced before it
  const produced: number[] = [];
  const started: number[] = [];
  let closed = false;
  let failedYet = false;
  const pulledAfterFailure: number[] = [];
  async function* items(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < gates.length; i++) {
        await gates[i]!.promise;
        produced.push(i);
        if (failedYet) pulledAfterFailure.push(i);
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  const gen = items();
  const source: AsyncIterable<number> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        asked.push(produced.length);
        return gen.next();
      },
      return: () => gen.return(undefined),
    }),
  };
  const fail = gate();
  const arrived = gate();
  const run = processBatch(
    source,
    async (i) => {
      started.push(i);
      if (i === 0) {
        arrived.open();
        await fail.promise;
        throw new Error('item 0 failed');
      }
      return i;
    },
    { concurrency: 4 },
  );
  gates[0]!.open();
  await arrived.promise; // item 0's call is running; the other workers are free and want items
  await settle();
  fail.open();
  await settle(); // the failure has been seen
  failedYet = true;
  for (const g of gates) g.open(); // the source would now hand out everything
  await assert.rejects(run, /item 0 failed/);
  assert.deepEqual(started, [0], 'no call starts after the failure');
  assert.ok(pulledAfterFailure.length <= 1, `items pulled after the failure: ${pulledAfterFailure.join(', ')}`);
  assert.ok(asked.length <= 2, `next() asked ${asked.length} times: one pull at a time, none begun after the failure`);
  assert.equal(closed, true, 'the source is closed');
});

test('processBatch: a failure while a slow call runs stops the calls that follow (fast source, slow calls)', async () => {
  const started: number[] = [];
  const fail = gate();
  const release = gate();
  let produced = 0;
  function* items(): Generator<number> {
    for (let i = 0; i < 100; i++) {
      produced++;
      yield i;
    }
  }
  const run = processBatch(
    items(),
    async (i) => {
      started.push(i);
      if (i === 0) {
        await fail.promise;
        throw new Error('boom');
      }
      await release.promise;
      return i;
    },
    { concurrency: 4 },
  );
  await settle();
  assert.deepEqual(started, [0, 1, 2, 3]);
  fail.open();
  await settle();
  release.open(); // calls 1-3 end after the failure: their workers take nothing more
  await assert.rejects(run, /boom/);
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(produced, 4, 'nothing pulled after the failure');
});

test('processBatch rejects with the first failure in time, not the first worker’s', async () => {
  const late = gate();
  const run = processBatch(
    [0, 1],
    async (i) => {
      if (i === 0) {
        await late.promise;
        throw new Error('second failure (item 0)');
      }
      throw new Error('first failure (item 1)');
    },
    { concurrency: 2 },
  );
  await settle();
  late.open();
  await assert.rejects(run, /first failure \(item 1\)/);
});

test('processBatch: a next() that gives no result object is a TypeError (not an endless source); the first failure is the one thrown', async () => {
  const primitive = { [Symbol.iterator]: () => ({ next: () => 5 as unknown as IteratorResult<number> }) };
  await assert.rejects(
    processBatch(primitive, (x) => x),
    { name: 'TypeError', message: /next\(\) must return an object .*got number/ },
  );
  // next() throws: return() is not called (for…of would not), and a failing return() never hides the cause.
  let returned = 0;
  const broken = {
    [Symbol.iterator]: () => ({
      next: (): IteratorResult<number> => {
        throw new Error('src broke');
      },
      return: (): IteratorResult<number> => {
        returned++;
        throw new Error('return() failed');
      },
    }),
  };
  await assert.rejects(
    processBatch(broken, (x) => x),
    { message: 'src broke' },
  );
  assert.equal(returned, 0);
  // A failing call leaves the source early: return() is called, and its own failure does not replace the call's.
  let n = 0;
  const endless = {
    [Symbol.iterator]: () => ({
      next: (): IteratorResult<number> => ({ value: n++, done: false }),
      return: (): IteratorResult<number> => {
        returned++;
        throw new Error('return() failed');
      },
    }),
  };
  await assert.rejects(
    processBatch(endless, (x) => {
      if (x === 3) throw new Error('call failed');
      return x;
    }),
    { message: 'call failed' },
  );
  assert.equal(returned, 1);
});

test('processBatch with an aborted signal: rejects at once with its reason, even with a pull and a call under way', async () => {
  // A source that yields once, then never again (its next pull hangs), and a call that never ends.
  let closed = false;
  let pulls = 0;
  async function* items(): AsyncGenerator<number> {
    try {
      pulls++;
      yield 0;
      pulls++;
      await new Promise(() => {});
    } finally {
      closed = true;
    }
  }
  const ac = new AbortController();
  const started: number[] = [];
  const batch = processBatch(
    items(),
    (n) => {
      started.push(n);
      return new Promise<never>(() => {});
    },
    { concurrency: 2, signal: ac.signal },
  );
  await settle();
  assert.deepEqual([started, pulls], [[0], 2], 'one call runs, the second pull hangs');
  const reason = new Error('client left');
  ac.abort(reason);
  await assert.rejects(batch, (err) => err === reason);
  assert.deepEqual(started, [0], 'nothing started after the abort');
  // The generator is suspended in its hanging await: return() is queued behind it, so it stays open.
  assert.equal(closed, false);

  // A sync source is closed at once (its finally runs).
  let syncClosed = false;
  function* numbers(): Generator<number> {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      syncClosed = true;
    }
  }
  const ac2 = new AbortController();
  const calls: number[] = [];
  const second = processBatch(numbers(), (n) => (calls.push(n), new Promise<void>(() => {})), { concurrency: 3, signal: ac2.signal });
  await settle();
  ac2.abort();
  await assert.rejects(second, { name: 'AbortError' });
  await settle();
  assert.deepEqual([calls, syncClosed], [[0, 1, 2], true]);

  // Aborted before the call: the source is not touched.
  let touched = false;
  const untouched = { [Symbol.iterator]: () => ((touched = true), [][Symbol.iterator]()) };
  await assert.rejects(
    processBatch(untouched, (x) => x, { signal: AbortSignal.abort(new Error('early')) }),
    /early/,
  );
  assert.equal(touched, false);

  // A signal never aborted changes nothing, and leaves no listener behind.
  const ac3 = new AbortController();
  assert.deepEqual(await processBatch([1, 2, 3], (x) => x * 2, { signal: ac3.signal }), [2, 4, 6]);
  assert.equal(getEventListeners(ac3.signal, 'abort').length, 0);
});
