import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmission } from '../../src/admission/index.js';
import * as proxyEntry from '../../src/proxy/index.js';
import { HeadroomError } from '../../src/errors.js';
import type { MemoryStatus, PressureListener, PressureSource } from '../../src/monitor/types.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const base = { maxConcurrent: 2, queueSize: 1, queueTimeout: 5_000, memoryThresholdPercent: 80, heapPercent: () => 10 };

function stubMonitor(): PressureSource & { emit(level: MemoryStatus): void } {
  let level: MemoryStatus = 'healthy';
  const listeners = new Set<PressureListener>();
  return {
    status: () => level,
    onPressure: (l) => {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    emit(next) {
      level = next;
      for (const l of listeners) l(next);
    },
  };
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    assert.ok(err instanceof HeadroomError);
    assert.equal(err.headers['retry-after'], '1');
    return err.code;
  }
};

describe('admission', () => {
  test('limits concurrency, queues one, rejects overflow with Retry-After', async () => {
    await using a = createAdmission(base);
    const r1 = await a.acquire();
    const r2 = await a.acquire();
    const queued = a.acquire();
    assert.equal(await codeOf(a.acquire()), 'HEADROOM_OVERLOADED');
    assert.deepEqual([a.stats().inFlight, a.stats().queued], [2, 1]);
    r1();
    r1(); // idempotent: does not free a second slot
    const r3 = await queued;
    assert.deepEqual([a.stats().inFlight, a.stats().queued, a.stats().rejected.concurrency], [2, 0, 1]);
    r2();
    r3();
    assert.equal(a.stats().inFlight, 0);
  });

  test('queue timeout rejects and frees the queue place', async () => {
    await using a = createAdmission({ ...base, maxConcurrent: 1, queueTimeout: 30 });
    const r = await a.acquire();
    assert.equal(await codeOf(a.acquire()), 'HEADROOM_QUEUE_TIMEOUT');
    assert.equal(a.stats().queued, 0);
    assert.equal(a.stats().rejected.queueTimeout, 1);
    r();
  });

  test('an aborted signal removes the waiter', async () => {
    await using a = createAdmission({ ...base, maxConcurrent: 1 });
    const r = await a.acquire();
    const ac = new AbortController();
    const waiting = a.acquire({ signal: ac.signal });
    ac.abort(new Error('gone'));
    await assert.rejects(waiting, /gone/);
    assert.equal(a.stats().queued, 0);
    r();
    assert.equal(a.stats().inFlight, 0);
  });

  test('memory breaker opens at the threshold and closes with hysteresis', async () => {
    let heap = 50;
    let samples = 0;
    await using a = createAdmission({ ...base, heapPercent: () => (samples++, heap), sampleInterval: 5, hysteresisPercent: 10 });
    // Resolves once the breaker has taken a sample of the value set now.
    const sampled = (): Promise<boolean> => {
      const after = samples;
      return waitFor(() => samples > after, 'a heap sample');
    };
    heap = 85;
    await sampled();
    assert.equal(await codeOf(a.acquire()), 'HEADROOM_MEMORY_PRESSURE');
    heap = 75; // below threshold but inside the hysteresis band: stays open
    await sampled();
    assert.ok(a.breakerOpen());
    heap = 65;
    await sampled();
    assert.ok(!a.breakerOpen());
    (await a.acquire())();
    assert.equal(a.stats().rejected.memory, 1);
  });

  test('monitor critical opens the breaker and sheds the largest in-flight responses', async () => {
    const monitor = stubMonitor();
    await using a = createAdmission({ ...base, maxConcurrent: 10, monitor, shedFraction: 0.25 });
    const shed: number[] = [];
    for (const bytes of [10, 5000, 20, 30]) a.track({ bytes, shed: () => shed.push(bytes) });
    monitor.emit('critical');
    assert.deepEqual(shed, [5000]);
    assert.equal(a.stats().shed, 1);
    assert.equal(await codeOf(a.acquire()), 'HEADROOM_MEMORY_PRESSURE');
    monitor.emit('warning');
    (await a.acquire())();
  });

  test('close rejects waiters with HEADROOM_DRAINING, is idempotent and leaves no handle', async () => {
    await assertNoLeakedHandles(async () => {
      const a = createAdmission({ ...base, maxConcurrent: 1, memoryThresholdPercent: 99, heapPercent: undefined });
      await a.acquire();
      const waiting = a.acquire();
      const closing = a.close();
      assert.equal(a.close(), closing, 'every call gets the same promise');
      assert.equal(a[Symbol.asyncDispose](), closing);
      await closing;
      assert.equal(await codeOf(waiting), 'HEADROOM_DRAINING');
      assert.equal(await codeOf(a.acquire()), 'HEADROOM_DRAINING');
    });
  });

  test('maxPerClient: one client holds at most that many slots, in flight or queued; others are unaffected', async () => {
    await using a = createAdmission({ ...base, maxConcurrent: 3, queueSize: 5, queueTimeout: 40, maxPerClient: 2 });
    const a1 = await a.acquire({ client: 'A' });
    const a2 = await a.acquire({ client: 'A' });
    assert.equal(await codeOf(a.acquire({ client: 'A' })), 'HEADROOM_CLIENT_LIMIT');
    const refused = a.tryAcquire('A');
    assert.ok(refused instanceof HeadroomError);
    assert.equal(refused.statusCode, 429);
    const b1 = await a.acquire({ client: 'B' });
    // B queues (every slot taken); its queued place counts against B.
    const b2 = a.acquire({ client: 'B' });
    assert.equal(await codeOf(a.acquire({ client: 'B' })), 'HEADROOM_CLIENT_LIMIT');
    // A caller naming no client (an image fetch) is not held to the per-client limit.
    const anonymous = a.acquire();
    assert.deepEqual([a.stats().inFlight, a.stats().queued, a.stats().clients, a.stats().rejected.client], [3, 2, 2, 3]);
    a1();
    const b2Release = await b2;
    assert.equal(await codeOf(a.acquire({ client: 'B' })), 'HEADROOM_CLIENT_LIMIT');
    // A gets its place back when its slot is released: it may queue again.
    const a3 = a.acquire({ client: 'A' });
    a2();
    (await anonymous)();
    b1();
    b2Release();
    (await a3)();
    assert.deepEqual([a.stats().inFlight, a.stats().queued, a.stats().clients], [0, 0, 0]);
  });

  test('maxPerClient: a queue place given up (timeout, abort, cancel, close) is given back to its client', async () => {
    const a = createAdmission({ ...base, maxConcurrent: 1, queueSize: 5, queueTimeout: 30, maxPerClient: 1 });
    const held = await a.acquire({ client: 'X' });
    assert.equal(await codeOf(a.acquire({ client: 'A' })), 'HEADROOM_QUEUE_TIMEOUT');
    const controller = new AbortController();
    const aborted = a.acquire({ client: 'A', signal: controller.signal });
    controller.abort(new Error('gone'));
    await assert.rejects(aborted, /gone/);
    const cancel = a.enqueue(
      () => assert.fail('cancelled'),
      () => assert.fail('cancelled'),
      'A',
    );
    assert.equal(a.stats().clients, 2);
    cancel();
    const closed = a.acquire({ client: 'A' });
    assert.equal(a.stats().clients, 2);
    await a.close();
    assert.equal(await codeOf(closed), 'HEADROOM_DRAINING');
    held();
    assert.deepEqual([a.stats().inFlight, a.stats().clients], [0, 0]);
  });

  test('maxPerClient is checked against maxConcurrent', () => {
    assert.throws(
      () => createAdmission({ ...base, maxConcurrent: 4, maxPerClient: 5 }),
      /createAdmission: maxPerClient=5: must be at most maxConcurrent \(4\), or it never applies; 0 turns it off/,
    );
    assert.throws(() => createAdmission({ ...base, maxPerClient: -1 }), /maxPerClient/);
  });

  test('headroom-memory/proxy still exports the controller (moved to src/admission)', () => {
    assert.equal(proxyEntry.createAdmission, createAdmission);
  });
});
