// Checks that a part left no active handle behind after close().
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { setImmediate as tick } from 'node:timers/promises';

/** Counts of active resources by type, e.g. { Timeout: 2, TCPSocketWrap: 1 }. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

// Resource types that keep a process alive or hold an OS resource. Tracked through async_hooks
// because getActiveResourcesInfo() does not list unref()ed timers, and a forgotten unref()ed
// setInterval is exactly the leak we look for.
const TRACKED = new Set([
  'Timeout',
  'TCPWRAP',
  'TCPSERVERWRAP',
  'PIPEWRAP',
  'PIPESERVERWRAP',
  'UDPWRAP',
  'PROCESSWRAP',
  'FSEVENTWRAP',
  'STATWATCHER',
]);

/**
 * Runs `use` (which creates and closes parts) and asserts that nothing it created is still alive:
 * no more active resources than before, and every timer or socket created during `use` destroyed.
 * Gives the event loop a few turns so sockets can finish closing.
 */
export async function assertNoLeakedHandles(use: () => Promise<void>): Promise<void> {
  await tick();
  const before = activeResources();
  const alive = new Map<number, { type: string; stack: string }>();
  let tracking = true;
  const hook = createHook({
    init(id, type) {
      if (tracking && TRACKED.has(type)) alive.set(id, { type, stack: new Error().stack?.split('\n').slice(3, 9).join('\n') ?? '' });
    },
    destroy(id) {
      alive.delete(id);
    },
  });
  hook.enable();
  let after: Record<string, number>;
  try {
    await use();
    tracking = false; // the waiting timers below are ours, not the part's
    after = activeResources();
    // Destroy events arrive asynchronously, so give them a few turns.
    for (let i = 0; i < 50 && (!noMoreThan(after, before) || alive.size > 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = activeResources();
    }
  } finally {
    hook.disable();
  }
  assert.ok(noMoreThan(after, before), `handles left behind: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  const leaked = [...alive.values()];
  assert.equal(
    leaked.length,
    0,
    `resources created during the test and never destroyed:\n${leaked.map((l) => `${l.type}\n${l.stack}`).join('\n---\n')}`,
  );
}

function noMoreThan(after: Record<string, number>, before: Record<string, number>): boolean {
  return Object.entries(after).every(([k, n]) => n <= (before[k] ?? 0));
}
