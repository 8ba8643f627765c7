// The shipper's accounting rule and caps, checked by every log test: at the end, and on every timer
// turn while a test runs (not only at the end).
import assert from 'node:assert/strict';
import type { LogShipper, LogShipStats } from '../../src/log/index.js';

/** sent + dropped + pending = produced; pending bytes within the cap; the spill within its cap. */
export function check(s: LogShipStats): LogShipStats {
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  assert.equal(s.sent + dropped + s.pendingEntries, s.produced, `sent + dropped + pending = produced: ${JSON.stringify(s)}`);
  assert.ok(s.pendingBytes <= s.maxBytes, `pending ${s.pendingBytes} within the cap ${s.maxBytes}`);
  assert.ok(s.pendingBytes >= 0 && s.pendingEntries >= 0);
  if (s.spill) assert.ok(s.spill.bytes <= s.spill.maxBytes, `spill ${s.spill.bytes} within ${s.spill.maxBytes}`);
  return s;
}

/** Runs `use`, checking the shipper's stats every 5 ms meanwhile; the first failure is thrown. */
export async function watched<T>(shipper: LogShipper, use: () => Promise<T>): Promise<T> {
  let failure: unknown;
  const timer = setInterval(() => {
    try {
      check(shipper.stats());
    } catch (err) {
      failure ??= err;
    }
  }, 5);
  let result: T;
  try {
    result = await use();
  } finally {
    clearInterval(timer);
  }
  if (failure) throw failure as Error;
  return result;
}
