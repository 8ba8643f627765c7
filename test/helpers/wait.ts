// The one polling helper for tests: waits until a condition holds and FAILS on timeout (a loop
// that just gives up would let a broken rule pass).
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 5_000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until the object behind `ref` has been garbage-collected, forcing a GC between looks (needs --expose-gc). */
export async function waitForCollection(ref: WeakRef<object>, what: string, timeoutMs = 5_000): Promise<void> {
  await waitFor(
    () => {
      gc!();
      return ref.deref() === undefined;
    },
    what,
    timeoutMs,
    100,
  );
}
