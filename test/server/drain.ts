// Shared steps of the shutdown tests: a request held in flight until released, and the check
// that shutdown closes the listener yet waits for it.
import assert from 'node:assert/strict';
import type { TestResponse } from '../helpers/http.js';
import { portClosed } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';

/** A one-shot signal: `open()` resolves `opened`. */
export function latch(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** With `inflight` held and shutdown under way: the listener closes, shutdown waits, then the request finishes. */
export async function assertDrains(
  url: string,
  closing: Promise<void>,
  inflight: Promise<TestResponse>,
  release: () => void,
): Promise<void> {
  let closed = false;
  void closing.then(() => (closed = true));
  await waitFor(() => portClosed(url), 'the listener to close');
  assert.equal(closed, false, 'shutdown waits for the in-flight request');
  release();
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(res.text, 'done');
  await closing;
}
