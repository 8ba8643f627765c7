// The bounded transform queue: concurrency, queue size, queue timeout, memory admission.
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
