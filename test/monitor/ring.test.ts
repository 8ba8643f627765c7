import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { RingBuffer } from '../../src/monitor/ring.js';
import { waitFor } from '../helpers/wait.js';
import { fakeMemory } from './helpers.js';

test('ring buffer keeps the newest `capacity` items, oldest first', () => {
  const r = new RingBuffer<number>(3);
  assert.deepEqual(r.toArray(), []);
  r.push(1);
  r.push(2);
  assert.deepEqual(r.toArray(), [1, 2]);
  for (let i = 3; i <= 10; i++) r.push(i);
  assert.equal(r.size, 3);
  assert.deepEqual(r.toArray(), [8, 9, 10]);
  assert.throws(() => new RingBuffer(0), /capacity/);
});

test('monitor history is bounded by historySize', async () => {
  const mem = fakeMemory();
  const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, historySize: 10, historyInterval: 0, rssLimit: null });
  for (let i = 0; i < 25; i++) {
    mem.heapUsed = i;
    monitor.sampleNow();
  }
  const h = monitor.history();
  assert.equal(h.length, 10);
  assert.deepEqual(
    h.map((s) => s.v8.usedHeapSize),
    [15, 16, 17, 18, 19, 20, 21, 22, 23, 24],
  );
  assert.equal(monitor.current().v8.usedHeapSize, 24);
  await monitor.close();
});

test('MEMORY_HISTORY_INTERVAL: the history takes at most one sample per interval, however often the monitor samples', async () => {
  const mem = fakeMemory();
  const monitor = createMemoryMonitor({ sampler: mem.sampler, sampleInterval: 50, historyInterval: 200, rssLimit: null });
  const started = performance.now();
  try {
    await waitFor(() => monitor.history().length >= 3, 'three history entries', 5_000);
    const elapsed = performance.now() - started;
    const h = monitor.history();
    // Entries are at least interval - sampleInterval/2 (175 ms) apart; the monitor sampled about four times as often.
    for (let i = 1; i < h.length; i++) assert.ok(h[i]!.timestamp - h[i - 1]!.timestamp >= 170, JSON.stringify(h.map((s) => s.timestamp)));
    assert.ok(h.length <= Math.floor(elapsed / 175) + 1, `${h.length} entries in ${elapsed.toFixed(0)} ms`);
  } finally {
    await monitor.close();
  }
});
