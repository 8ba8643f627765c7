// A delta that is not a finite number (NaN from byteLength of undefined, Infinity, a string) is
// refused with a TypeError before it touches any total: one bad charge must not leave the ledger,
// the total and the headroom_request_bytes_held gauge NaN for the rest of the process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequestAccounting } from '../../src/log/accounting.js';

const BAD: unknown[] = [NaN, Infinity, -Infinity, Number(undefined), '100', undefined, null, 10n, 1e308, 2 ** 53 + 2];
const REFUSED = /charge\(delta\): delta must be a number of bytes up to 2\^53 \(positive to charge, negative to give back\), got /;

test('accounting.charge() refuses a non-finite delta and every total stays a number', async () => {
  const accounting = createRequestAccounting();
  const a = accounting.open();
  accounting.run(a, () => {
    assert.equal(accounting.charge(1000), true);
    for (const bad of BAD) assert.throws(() => accounting.charge(bad as number), { name: 'TypeError', message: REFUSED }, String(bad));
  });
  assert.throws(() => accounting.charge(NaN), { name: 'TypeError', message: /accounting\.charge\(delta\).*got NaN$/ });
  assert.throws(() => accounting.charge(Infinity), { message: /got Infinity$/ }, 'refused outside a request too');
  assert.deepEqual(
    { held: a.held, peak: a.peak, charged: a.charged, total: accounting.held() },
    { held: 1000, peak: 1000, charged: 1000, total: 1000 },
  );
  const summary = a.end('/a');
  assert.deepEqual({ peak: summary.peak, charged: summary.charged }, { peak: 1000, charged: 1000 });
  assert.equal(accounting.held(), 0, 'the total is back at 0, not NaN');

  const b = accounting.open();
  accounting.run(b, () => accounting.charge(500));
  assert.equal(accounting.held(), 500, 'a later request is counted');
  b.end('/b');
  assert.equal(accounting.held(), 0);
  assert.deepEqual(
    accounting.routes().map((r) => [r.route, r.charged, r.maxPeak]),
    [
      ['/a', 1000, 1000],
      ['/b', 500, 500],
    ],
  );
  await accounting.close();
});

test('ledger.charge() (what the proxy and the image queue call) refuses a non-finite delta, before and after end()', async () => {
  const accounting = createRequestAccounting();
  const l = accounting.open();
  l.charge(64);
  for (const bad of BAD)
    assert.throws(() => l.charge(bad as number), { name: 'TypeError', message: /^RequestLedger\.charge\(delta\)/ }, String(bad));
  assert.deepEqual(
    { held: l.held, peak: l.peak, charged: l.charged, total: accounting.held() },
    { held: 64, peak: 64, charged: 64, total: 64 },
  );
  l.charge(-64);
  assert.equal(accounting.held(), 0);
  l.end('/x');
  assert.throws(() => l.charge(NaN), { name: 'TypeError' }, "a bad late release is still the caller's bug");
  assert.equal(accounting.held(), 0);
  await accounting.close();
});

test('two huge charges cannot make the total Infinity, fractions count as whole bytes (no drift); a request that ended charges nothing', async () => {
  const accounting = createRequestAccounting();
  const l = accounting.open();
  accounting.run(l, () => {
    assert.throws(() => accounting.charge(1e308), { name: 'TypeError' });
    assert.equal(accounting.charge(2 ** 53 - 1), true);
  });
  l.end('/big');
  assert.equal(accounting.held(), 0);
  // Fractions are whole bytes: charged up, given back down, and the total returns to exactly 0.
  const x = accounting.open();
  const y = accounting.open();
  accounting.run(x, () => accounting.charge(0.1));
  accounting.run(y, () => accounting.charge(0.2));
  assert.deepEqual([x.held, y.held, accounting.held()], [1, 1, 2]);
  accounting.run(x, () => accounting.charge(-0.4));
  assert.equal(x.held, 0);
  x.end('/x');
  y.end('/y');
  assert.equal(accounting.held(), 0);
  // A callback of a resource made during the request (a timer, a shared pool) runs in its context
  // after it ended: that is no request's any more.
  const late = await new Promise<boolean>((resolve) => accounting.run(l, () => setImmediate(() => resolve(accounting.charge(100)))));
  assert.equal(late, false, 'an ended ledger is not the current request');
  assert.equal(accounting.current(), undefined);
  assert.equal(accounting.held(), 0);
  await accounting.close();
});

test('ledger.end() refuses a route that is not a string and leaves the ledger open for a correct end()', async () => {
  const accounting = createRequestAccounting();
  const a = accounting.open();
  a.charge(300);
  for (const bad of [undefined, null, 42, { path: '/a' }])
    assert.throws(
      () => a.end(bad as unknown as string),
      { name: 'TypeError', message: /^ledger\.end\(route\): route must be a string .*; got / },
      String(bad),
    );
  assert.equal(accounting.held(), 300, 'nothing released by a refused end()');
  assert.deepEqual(accounting.routes(), []);
  assert.equal(a.end('/a').charged, 300);
  assert.equal(accounting.held(), 0);
  assert.deepEqual(
    accounting.routes().map((r) => r.route),
    ['/a'],
  );
  assert.equal(a.end(undefined as unknown as string).route, '/a', 'idempotent: an ended ledger gives its summary back');
  await accounting.close();
});
