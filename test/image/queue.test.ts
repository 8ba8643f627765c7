// The bounded transform queue: concurrency, queue size, queue timeout, memory admission, lending
// the head to another pool.
// Queue timeouts run on node:test's mock timers: exact, and no real wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransformQueue, lendWhileIdle, type TransformQueue } from '../../src/image/transform-queue.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

test('runs at most `concurrency` at once, then queues, then 503 OVERLOADED with Retry-After', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 1, queueTimeout: 5000, memoryBudget: 1000 });
  const gate = deferred();
  const order: string[] = [];
  const a = q.run(10, async () => {
    order.push('a');
    await gate.promise;
  });
  const b = q.run(10, async () => {
    order.push('b');
  });
  assert.deepEqual(q.stats().active, 1);
  assert.deepEqual(q.stats().queued, 1);
  await assert.rejects(
    q.run(10, async () => {}),
    (e: { code: string; headers: Record<string, string> }) => e.code === 'HEADROOM_OVERLOADED' && e.headers['retry-after'] === '5',
  );
  gate.resolve();
  await Promise.all([a, b]);
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(q.stats().reservedBytes, 0);
  q.close();
});

test('waiting longer than queueTimeout → 503 QUEUE_TIMEOUT; an aborted waiter leaves the queue', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const q = createTransformQueue({ concurrency: 1, queueSize: 5, queueTimeout: 50, memoryBudget: 1000 });
  const gate = deferred();
  const a = q.run(1, () => gate.promise);
  const late = q.run(1, async () => {});
  t.mock.timers.tick(49);
  assert.equal(q.stats().queued, 1, 'still waiting 1 ms before queueTimeout');
  t.mock.timers.tick(1);
  await assert.rejects(late, { code: 'HEADROOM_QUEUE_TIMEOUT' });
  assert.equal(q.stats().queued, 0);
  const ac = new AbortController();
  const waiting = q.run(1, async () => {}, ac.signal);
  ac.abort(new Error('client left'));
  await assert.rejects(waiting, /client left/);
  assert.equal(q.stats().queued, 0);
  gate.resolve();
  await a;
  q.close();
});

test('memory admission: estimates beyond the budget wait for memory, or are refused', async () => {
  const q = createTransformQueue({ concurrency: 4, queueSize: 4, queueTimeout: 5000, memoryBudget: 100 });
  await assert.rejects(
    q.run(101, async () => {}),
    { code: 'HEADROOM_MEMORY_PRESSURE' },
  );
  const gate = deferred();
  const big = q.run(80, () => gate.promise);
  let ran = false;
  const next = q.run(30, async () => {
    ran = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(ran, false, 'waits: 80 + 30 > 100 although a slot is free');
  gate.resolve();
  await Promise.all([big, next]);
  assert.equal(ran, true);
  q.close();
});

test('what waiting jobs hold (buffered sources) counts against the budget: refused past it, started only beside it', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 10, queueTimeout: 5000, memoryBudget: 100 });
  const gate = deferred();
  const running = q.run(40, () => gate.promise, undefined, undefined, 10);
  const order: string[] = [];
  const job = (name: string) => async () => void order.push(name);
  // 40 reserved + 25 + 25 held = 90: both may wait.
  const a = q.run(30, job('a'), undefined, undefined, 25);
  const b = q.run(30, job('b'), undefined, undefined, 25);
  assert.deepEqual([q.stats().queued, q.stats().waitingBytes], [2, 50]);
  // 90 + 15 > 100: refused, not queued (a slot-less wait would hold its 15 bytes outside the budget).
  await assert.rejects(q.run(20, job('c'), undefined, undefined, 15), (e: { code: string; message: string }) => {
    assert.equal(e.code, 'HEADROOM_MEMORY_PRESSURE');
    assert.match(e.message, /already hold 50 bytes.*reserve 40.*15 bytes would pass the transform memory budget \(100\)/);
    return true;
  });
  // A job holding nothing waits (a streamed source is paused, not buffered).
  const d = q.run(10, job('d'), undefined, undefined, 0);
  assert.deepEqual([q.stats().queued, q.stats().waitingBytes], [3, 50]);
  gate.resolve();
  await Promise.all([running, a, b, d]);
  assert.deepEqual(order, ['a', 'b', 'd']);
  assert.deepEqual([q.stats().reservedBytes, q.stats().waitingBytes], [0, 0]);
  // A waiting job leaving (timeout, abort, failure at the head) gives its bytes back.
  const gate2 = deferred();
  const busy = q.run(90, () => gate2.promise);
  const ac = new AbortController();
  const leaving = q.run(8, job('e'), ac.signal, undefined, 8);
  assert.equal(q.stats().waitingBytes, 8);
  ac.abort(new Error('client left'));
  await assert.rejects(leaving, /client left/);
  assert.equal(q.stats().waitingBytes, 0);
  gate2.resolve();
  await busy;
  await assert.rejects(
    q.run(10, job('f'), undefined, undefined, 11),
    /held bytes must be a finite number from 0 to the estimate \(10\), got 11/,
  );
  q.close();
});

test('a waiting job starts only when its decode fits beside the sources the others still hold', async () => {
  const q = createTransformQueue({ concurrency: 2, queueSize: 10, queueTimeout: 5000, memoryBudget: 100 });
  const gateA = deferred();
  const gateB = deferred();
  const a = q.run(30, () => gateA.promise);
  const b = q.run(30, () => gateB.promise);
  const started: string[] = [];
  // 60 reserved + 10 + 30 held = 100: both may wait.
  const w1 = q.run(60, async () => void started.push('w1'), undefined, undefined, 10);
  const w2 = q.run(35, async () => void started.push('w2'), undefined, undefined, 30);
  gateA.resolve();
  await a;
  await new Promise((r) => setImmediate(r));
  // A slot is free and 30 + 60 ≤ 100, but w2's 30 bytes are in memory too: 30 + 60 + 30 > 100.
  assert.deepEqual(started, []);
  gateB.resolve();
  await Promise.all([b, w1, w2]);
  assert.deepEqual(started, ['w1', 'w2']);
  assert.deepEqual([q.stats().reservedBytes, q.stats().waitingBytes], [0, 0]);
  q.close();
});

test('current headroom and critical status are honoured', async () => {
  let room = 50;
  let critical = false;
  const q = createTransformQueue({
    concurrency: 2,
    queueSize: 2,
    queueTimeout: 5000,
    memoryBudget: 1000,
    headroom: () => room,
    critical: () => critical,
  });
  await assert.rejects(
    q.run(60, async () => {}),
    { code: 'HEADROOM_MEMORY_PRESSURE' },
  );
  room = 100;
  await q.run(60, async () => {});
  critical = true;
  await assert.rejects(
    q.run(1, async () => {}),
    /memory is critical/,
  );
  q.close();
});

test('close() fails waiters and refuses new work', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 2, queueTimeout: 5000, memoryBudget: 100 });
  const gate = deferred();
  const a = q.run(1, () => gate.promise);
  const b = q.run(1, async () => {});
  q.close();
  await assert.rejects(b, { code: 'HEADROOM_DRAINING' });
  await assert.rejects(
    q.run(1, async () => {}),
    { code: 'HEADROOM_DRAINING' },
  );
  gate.resolve();
  await a;
});

test('lend(): the head runs in the runner when it is lendable and its memory fits; FIFO holds', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 4, queueTimeout: 5000, memoryBudget: 100 });
  const gate = deferred();
  const running = q.run(10, () => gate.promise);
  const runner = (job: () => Promise<void>) => job();
  // A head that may only run in a slot is never lent, and nothing behind it jumps ahead.
  const slotOnly = q.run(10, async () => 'slot');
  const lendable = q.run(
    10,
    async () => 'slot',
    undefined,
    async () => 'lent',
  );
  assert.equal(q.lend(runner), false);
  gate.resolve();
  await running;
  assert.deepEqual([await slotOnly, await lendable], ['slot', 'slot']);

  const gate2 = deferred();
  const busy = q.run(50, () => gate2.promise);
  const tooBig = q.run(
    60,
    async () => 'slot',
    undefined,
    async () => 'lent',
  );
  assert.equal(q.lend(runner), false, '50 + 60 > the budget of 100');
  gate2.resolve();
  await busy;
  assert.equal(await tooBig, 'slot');
  q.close();
});

test('lend(): a lent job keeps its estimate reserved until it settles, and counts as running', async () => {
  const q = createTransformQueue({ concurrency: 2, queueSize: 4, queueTimeout: 5000, memoryBudget: 100 });
  const first = deferred();
  const second = deferred();
  const lentGate = deferred();
  const a1 = q.run(30, () => first.promise);
  const a2 = q.run(30, () => second.promise);
  const b = q.run(
    30,
    async () => 'slot',
    undefined,
    async () => {
      await lentGate.promise;
      return 'lent';
    },
  );
  assert.equal(
    q.lend((job) => job()),
    true,
  );
  assert.deepEqual([q.stats().queued, q.stats().lent, q.stats().reservedBytes], [0, 1, 90]);
  first.resolve();
  await a1;
  // A slot is free now, but 30 + 30 (lent) + 50 > 100: the next job waits for the lent one.
  let ran = false;
  const c = q.run(50, async () => void (ran = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(ran, false);
  lentGate.resolve();
  assert.equal(await b, 'lent');
  await c;
  assert.equal(ran, true);
  second.resolve();
  await a2;
  assert.deepEqual([q.stats().lent, q.stats().reservedBytes], [0, 0]);
  q.close();
});

test('lend(): a runner that cannot run the job fails it with its error and frees its memory', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 4, queueTimeout: 5000, memoryBudget: 100 });
  const gate = deferred();
  const a = q.run(10, () => gate.promise);
  const b = q.run(
    10,
    async () => 'slot',
    undefined,
    async () => 'lent',
  );
  assert.equal(
    q.lend(() => Promise.reject(new Error('encoder closed'))),
    true,
  );
  await assert.rejects(b, /encoder closed/);
  assert.deepEqual([q.stats().lent, q.stats().reservedBytes], [0, 10]);
  gate.resolve();
  await a;
  q.close();
});

test('onWait fires when a job starts waiting, onIdle when a slot frees with nobody waiting', async () => {
  const events: string[] = [];
  const q = createTransformQueue({
    concurrency: 1,
    queueSize: 4,
    queueTimeout: 5000,
    memoryBudget: 100,
    onWait: () => events.push('wait'),
    onIdle: () => events.push('idle'),
  });
  const gate = deferred();
  const a = q.run(1, () => gate.promise);
  const b = q.run(1, async () => {});
  assert.deepEqual(events, ['wait']);
  gate.resolve();
  await Promise.all([a, b]);
  // a's slot went straight to b; b's slot freed with nobody waiting.
  assert.deepEqual(events, ['wait', 'idle']);
  q.close();
});

test('with nothing running, every head that cannot fit is refused and those behind it that fit start', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 8, queueTimeout: 5000, memoryBudget: 100, headroom: () => 50 });
  const gate = deferred();
  const a = q.run(40, () => gate.promise);
  const big = q.run(60, async () => 'big');
  const small = q.run(10, async () => 'small');
  gate.resolve();
  await a;
  await assert.rejects(big, { code: 'HEADROOM_MEMORY_PRESSURE' });
  assert.equal(await small, 'small');
  assert.equal(await q.run(10, async () => 'new'), 'new');
  q.close();
});

test('a head that times out lets the jobs behind it start', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const q = createTransformQueue({ concurrency: 2, queueSize: 8, queueTimeout: 100, memoryBudget: 100 });
  const gate = deferred();
  const a = q.run(50, () => gate.promise);
  const big = q.run(60, async () => 'big'); // 50 + 60 > 100: waits for memory, then times out at 100
  t.mock.timers.tick(50);
  let ran = false;
  const small = q.run(10, async () => void (ran = true)); // fits, but FIFO keeps it behind `big`; its own timeout is at 150
  await new Promise((r) => setImmediate(r));
  assert.equal(ran, false);
  t.mock.timers.tick(50);
  await assert.rejects(big, { code: 'HEADROOM_QUEUE_TIMEOUT' });
  await small;
  assert.equal(ran, true, 'started when the head left (100), not at its own timeout (150)');
  gate.resolve();
  await a;
  q.close();
});

// A transform queue wired to a second pool the way the image service wires it to its encoders.
function wired(): { queue: TransformQueue; encoder: TransformQueue } {
  const pools = {} as { queue: TransformQueue; encoder: TransformQueue };
  const lend = () => lendWhileIdle(pools.queue, pools.encoder);
  pools.queue = createTransformQueue({ concurrency: 1, queueSize: 8, queueTimeout: 5000, memoryBudget: 100, onWait: lend });
  pools.encoder = createTransformQueue({ concurrency: 1, queueSize: 8, queueTimeout: 5000, memoryBudget: 100, onIdle: lend });
  return pools;
}

test('lendWhileIdle: a pool lends a waiting job only to an idle encoder, and again when the encoder frees up', async () => {
  const { queue, encoder } = wired();
  const slot = deferred();
  const encode = deferred();
  const a = queue.run(10, () => slot.promise);
  const own = encoder.run(0, () => encode.promise); // the encoder's own work
  const where: string[] = [];
  const b = queue.run(
    10,
    async () => void where.push('slot'),
    undefined,
    async () => void where.push('encoder'),
  );
  assert.deepEqual([queue.stats().queued, queue.stats().lent], [1, 0], 'the encoder is busy: b waits');
  encode.resolve();
  await own;
  await b;
  assert.deepEqual(where, ['encoder'], 'lent when the encoder freed up, while the slot was still busy');
  slot.resolve();
  await a;
  queue.close();
  encoder.close();
});

test("lendWhileIdle: the encoder's own waiting work goes first", async () => {
  const { queue, encoder } = wired();
  const slot = deferred();
  const encode = deferred();
  const a = queue.run(10, () => slot.promise);
  const first = encoder.run(0, () => encode.promise);
  const order: string[] = [];
  const second = encoder.run(0, async () => void order.push('own encode'));
  const b = queue.run(
    10,
    async () => void order.push('b in slot'),
    undefined,
    async () => void order.push('b lent'),
  );
  encode.resolve();
  await Promise.all([first, second, b]);
  assert.deepEqual(order, ['own encode', 'b lent']);
  slot.resolve();
  await a;
  queue.close();
  encoder.close();
});

test('lendWhileIdle: a lendable job that becomes the head behind a slot-only one is lent at once', async () => {
  const { queue, encoder } = wired();
  const slotA = deferred();
  const slotB = deferred();
  const a = queue.run(10, () => slotA.promise);
  const b = queue.run(10, () => slotB.promise); // may only run in a slot: blocks lending while it is the head
  const where: string[] = [];
  const c = queue.run(
    10,
    async () => void where.push('slot'),
    undefined,
    async () => void where.push('encoder'),
  );
  assert.equal(queue.stats().lent, 0);
  slotA.resolve();
  await a;
  await c;
  assert.deepEqual(where, ['encoder'], 'lent while b held the slot');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([encoder.stats().active, queue.stats().lent], [0, 0], 'the encoder slot and the reservation are given back');
  slotB.resolve();
  await b;
  queue.close();
  encoder.close();
});

test('lendWhileIdle: a pool that refuses a lent job fails that one job, and lending stops there', async () => {
  const { queue, encoder } = wired();
  const slot = deferred();
  const encode = deferred();
  const a = queue.run(10, () => slot.promise);
  const own = encoder.run(0, () => encode.promise);
  const b = queue.run(
    10,
    async () => 'slot',
    undefined,
    async () => 'lent',
  );
  const c = queue.run(
    10,
    async () => 'slot',
    undefined,
    async () => 'lent',
  );
  encoder.close(); // its running job goes on; it takes nothing new
  encode.resolve();
  await own;
  await assert.rejects(b, { code: 'HEADROOM_DRAINING' });
  assert.deepEqual(
    [queue.stats().queued, queue.stats().lent, queue.stats().reservedBytes],
    [1, 0, 10],
    'c still waits; b gave its memory back',
  );
  slot.resolve();
  await a;
  assert.equal(await c, 'slot');
  queue.close();
});

test('an estimate that is not a finite byte count is refused before anything is reserved or charged', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 1, queueTimeout: 5000, memoryBudget: 1000 });
  let ran = false;
  for (const bad of [NaN, Infinity, -1])
    await assert.rejects(
      q.run(bad, async () => void (ran = true)),
      (e: Error) => e instanceof TypeError && e.message.includes(`got ${bad}`),
    );
  assert.equal(ran, false);
  assert.deepEqual([q.stats().active, q.stats().reservedBytes], [0, 0]);
  await q.run(10, async () => {}); // the slot is free
  q.close();
});
