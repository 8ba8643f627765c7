// The shared ledger store: parts find the request's ledger without the accounting, two
// accountings never see each other's ledgers, withLedger() moves work into (or out of) a request,
// and the image transform queue charges a waiting job to its own request when another frees the slot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { createRequestAccounting, currentLedger, withLedger } from '../../src/log/accounting.js';
import { createTransformQueue } from '../../src/image/transform-queue.js';

test('currentLedger() finds the ledger of any accounting; current() only its own; closed accounting finds none', async () => {
  assert.equal(currentLedger(), undefined);
  const a = createRequestAccounting();
  const b = createRequestAccounting();
  const la = a.open();
  await a.run(la, async () => {
    await tick();
    assert.equal(currentLedger(), la);
    assert.equal(a.current(), la);
    assert.equal(b.current(), undefined, 'another accounting does not claim this ledger');
    assert.equal(b.charge(10), false);
    withLedger(undefined, () => assert.equal(currentLedger(), undefined, 'withLedger(undefined) leaves the request'));
    const lb = b.open();
    withLedger(lb, () => {
      assert.equal(b.current(), lb);
      assert.equal(a.current(), undefined);
    });
    lb.end('/b');
  });
  assert.equal(a.held(), 0);
  assert.equal(b.held(), 0);
  await a.close();
  a.run(la, () => {
    assert.equal(a.current(), undefined, 'closed: no ledger found');
    assert.equal(a.charge(5), false);
  });
  la.end('/a');
  await b.close();
});

test('transform queue: a waiting job is charged to its own request, not to the one that freed the slot', async () => {
  const accounting = createRequestAccounting();
  const q = createTransformQueue({ concurrency: 1, queueSize: 4, queueTimeout: 5_000, memoryBudget: 1_000 });
  const first = accounting.open();
  const second = accounting.open();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let ranIn: unknown;
  const a = accounting.run(first, () => q.run(100, () => gate));
  const b = accounting.run(second, () =>
    q.run(300, async () => {
      ranIn = currentLedger();
      assert.equal(accounting.held(), 300, 'only the running job is charged');
    }),
  );
  assert.equal(first.held, 100, 'charged from the moment its slot is reserved');
  assert.equal(second.held, 0, 'waiting charges nothing');
  release();
  await Promise.all([a, b]);
  assert.equal(ranIn, second, 'the waiting job ran inside its own request');
  assert.equal(first.charged, 100);
  assert.equal(second.charged, 300);
  assert.equal(accounting.held(), 0, 'all given back');
  assert.equal(q.stats().reservedBytes, 0);
  first.end('/');
  second.end('/');
  q.close();
  await accounting.close();
});
