// The bounded transform queue: concurrency, queue size, queue timeout, memory admission, lending
// the head to another pool.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransformQueue } from '../../src/image/transform-queue.js';

// The queue's timers are unref'd (a server's sockets keep the loop alive); here nothing else does.
let keepAlive: NodeJS.Timeout;
before(() => void (keepAlive = setInterval(() => {}, 1000)));
after(() => clearInterval(keepAlive));

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

test('runs at most `concurrency` at once, then queues, then 503 OVERLOADED with Retry-After', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 1, queueTimeout: 5000, memoryBudget: 1000 });
  const gate = deferred();
  const order: string[] = [];
  const a = q.run(10, async () => { order.push('a'); await gate.promise; });
  const b = q.run(10, async () => { order.push('b'); });
  assert.deepEqual(q.stats().active, 1);
  assert.deepEqual(q.stats().queued, 1);
  await assert.rejects(q.run(10, async () => {}), (e: { code: string; headers: Record<string, string> }) => e.code === 'HEADROOM_OVERLOADED' && e.headers['retry-after'] === '5');
  gate.resolve();
  await Promise.all([a, b]);
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(q.stats().reservedBytes, 0);
  q.close();
});

test('waiting longer than queueTimeout → 503 QUEUE_TIMEOUT; an aborted waiter leaves the queue', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 5, queueTimeout: 50, memoryBudget: 1000 });
  const gate = deferred();
  const a = q.run(1, () => gate.promise);
  await assert.rejects(q.run(1, async () => {}), { code: 'HEADROOM_QUEUE_TIMEOUT' });
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
  await assert.rejects(q.run(101, async () => {}), { code: 'HEADROOM_MEMORY_PRESSURE' });
  const gate = deferred();
  const big = q.run(80, () => gate.promise);
  let ran = false;
  const next = q.run(30, async () => { ran = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(ran, false, 'waits: 80 + 30 > 100 although a slot is free');
  gate.resolve();
  await Promise.all([big, next]);
  assert.equal(ran, true);
  q.close();
});

test('current headroom and critical status are honoured', async () => {
  let room = 50;
  let critical = false;
  const q = createTransformQueue({ concurrency: 2, queueSize: 2, queueTimeout: 5000, memoryBudget: 1000, headroom: () => room, critical: () => critical });
  await assert.rejects(q.run(60, async () => {}), { code: 'HEADROOM_MEMORY_PRESSURE' });
  room = 100;
  await q.run(60, async () => {});
  critical = true;
  await assert.rejects(q.run(1, async () => {}), /memory is critical/);
  q.close();
});

test('close() fails waiters and refuses new work', async () => {
  const q = createTransformQueue({ concurrency: 1, queueSize: 2, queueTimeout: 5000, memoryBudget: 100 });
  const gate = deferred();
  const a = q.run(1, () => gate.promise);
  const b = q.run(1, async () => {});
  q.close();
  await assert.rejects(b, { code: 'HEADROOM_DRAINING' });
  await assert.rejects(q.run(1, async () => {}), { code: 'HEADROOM_DRAINING' });
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
  const lendable = q.run(10, async () => 'slot', undefined, async () => 'lent');
  assert.equal(q.lend(runner), false);
  gate.resolve();
  await running;
  assert.deepEqual([await slotOnly, await lendable], ['slot', 'slot']);

  const gate2 = deferred();
  const busy = q.run(50, () => gate2.promise);
  const tooBig = q.run(60, async () => 'slot', undefined, async () => 'lent');
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
  const b = q.run(30, async () => 'slot', undefined, async () => {
    await lentGate.promise;
    return 'lent';
  });
  assert.equal(q.lend((job) => job()), true);
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
  const b = q.run(10, async () => 'slot', undefined, async () => 'lent');
  assert.equal(q.lend(() => Promise.reject(new Error('encoder closed'))), true);
  await assert.rejects(b, /encoder closed/);
  assert.deepEqual([q.stats().lent, q.stats().reservedBytes], [0, 10]);
  gate.resolve();
  await a;
  q.close();
});

test('onWait fires when a job starts waiting, onIdle when a slot frees with nobody waiting', async () => {
  const events: string[] = [];
  const q = createTransformQueue({ concurrency: 1, queueSize: 4, queueTimeout: 5000, memoryBudget: 100, onWait: () => events.push('wait'), onIdle: () => events.push('idle') });
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
