// Shared flights: the work is aborted only when its last caller has left; a late result nobody
// waits for is handed to `unclaimed`; a caller arriving after the others left starts afresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFlights } from '../../src/image/flights.js';

/** Work that resolves on demand and records the signal it was given. */
function controllable() {
  const runs: { signal: AbortSignal; resolve: (v: string) => void }[] = [];
  const work = (signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      runs.push({ signal, resolve });
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  return { runs, work };
}

test('one caller leaving does not abort work another still waits for', async () => {
  const flights = createFlights<string>();
  const { runs, work } = controllable();
  const a = new AbortController();
  const first = flights.join('k', work, a.signal);
  const second = flights.join('k', work);
  assert.equal(runs.length, 1, 'one run for both');
  a.abort(new Error('a left'));
  await assert.rejects(first, /a left/);
  assert.equal(runs[0]!.signal.aborted, false);
  runs[0]!.resolve('done');
  assert.equal(await second, 'done');
  await flights.settled();
  assert.equal(flights.has('k'), false);
});

test('the last caller leaving aborts the work; the next caller starts a new run', async () => {
  const flights = createFlights<string>();
  const { runs, work } = controllable();
  const a = new AbortController();
  const b = new AbortController();
  const pa = flights.join('k', work, a.signal);
  const pb = flights.join('k', work, b.signal);
  a.abort(new Error('a left'));
  b.abort(new Error('b left'));
  await assert.rejects(pa, /a left/);
  await assert.rejects(pb, /b left/);
  assert.equal(runs[0]!.signal.aborted, true);
  assert.equal(flights.has('k'), false);
  const pc = flights.join('k', work);
  assert.equal(runs.length, 2);
  runs[1]!.resolve('again');
  assert.equal(await pc, 'again');
  await flights.settled();
});

test('a result that arrives after every caller left goes to unclaimed; an aborted signal starts nothing', async () => {
  const late: string[] = [];
  const flights = createFlights<string>((v) => late.push(v));
  let finish!: (v: string) => void;
  const c = new AbortController();
  // Work that ignores its signal, as a fetch might between two steps.
  const p = flights.join('k', () => new Promise<string>((r) => (finish = r)), c.signal);
  c.abort(new Error('gone'));
  await assert.rejects(p, /gone/);
  finish('orphan');
  await flights.settled();
  assert.deepEqual(late, ['orphan']);
  let started = false;
  await assert.rejects(
    flights.join('k', async () => ((started = true), 'x'), c.signal),
    /gone/,
  );
  assert.equal(started, false);
});
