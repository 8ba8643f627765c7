// node:test mock timers for the cache's clocks: Date (TTLs) and setTimeout/setInterval (loader
// timeouts, the coarse clock of src/cache/clock.ts, cleanup). setImmediate stays real, so tests
// can still let I/O and promises run (`turn` below).
import type { TestContext } from 'node:test';
import { setImmediate as turn, setTimeout as realSleep } from 'node:timers/promises';

export { turn };

export async function mockClock(t: TestContext): Promise<void> {
  // The coarse clock may hold a time read just before, cleared by a real 1 ms timer: a real timer
  // of the same length set after it fires after it.
  await realSleep(1);
  t.mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: Date.now() });
  // Likewise at the end: its mocked 1 ms timer must fire before the mock goes, or the mocked time
  // would stay cached for the next tests.
  t.after(() => t.mock.timers.tick(1));
}

/** True when `p` has settled after a few turns of the event loop (no time passes on a mocked clock). */
export async function settles(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 10 && !done; i++) await turn();
  return done;
}
