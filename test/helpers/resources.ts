// Checks that a part left no active handle behind after close().
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';

/** Counts of active resources by type, e.g. { Timeout: 2, TCPSocketWrap: 1 }. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/**
 * Runs `use` (which creates and closes parts) and asserts the active resources afterwards are no
 * more than before. Gives the event loop a few turns so sockets can finish closing.
 */
export async function assertNoLeakedHandles(use: () => Promise<void>): Promise<void> {
  await tick();
  const before = activeResources();
  await use();
  let after = activeResources();
  for (let i = 0; i < 50 && !noMoreThan(after, before); i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = activeResources();
  }
  // The setTimeout used for waiting above is itself gone by now.
  assert.ok(noMoreThan(after, before), `handles left behind: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
}

function noMoreThan(after: Record<string, number>, before: Record<string, number>): boolean {
  return Object.entries(after).every(([k, n]) => n <= (before[k] ?? 0));
}
