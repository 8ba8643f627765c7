// Event-loop delay as measured by a real monitor and its probe: how late a timer fires, without
// the probe's own tick interval, and with no tick dropped when a sample resets the histogram.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_LOOP_TICK_MS, createEventLoopProbe } from '../../src/monitor/event-loop.js';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('an idle process reports an event-loop delay near 0 ms, not the 50 ms tick interval', async () => {
  await assertNoLeakedHandles(async () => {
    const monitor = createMemoryMonitor({ sampleInterval: 300, historyInterval: 0, rssLimit: null });
    try {
      // The first sample is taken at start(), before any tick: wait for five more.
      await waitFor(() => monitor.history().length >= 6, 'six samples');
      const loops = monitor
        .history()
        .slice(1)
        .map((s) => s.eventLoop);
      const detail = JSON.stringify(loops);
      // With the interval included every value was >= 50 ms. Medians over the samples leave room
      // for a scheduling hiccup on a loaded machine.
      assert.ok(median(loops.map((l) => l.delayP50)) < 5, detail);
      assert.ok(median(loops.map((l) => l.delayMean)) < 25, detail);
      assert.ok(
        loops.every((l) => l.delayMean >= 0 && l.delayMax >= l.delayP50),
        detail,
      );
    } finally {
      await monitor.close();
    }
  });
});

test('a stall right after a sample is reported by the next sample', async () => {
  await assertNoLeakedHandles(async () => {
    const probe = createEventLoopProbe();
    probe.start();
    try {
      probe.read(); // a sample: resets the histogram
      const blockedAt = performance.now();
      while (performance.now() - blockedAt < 200); // a 200 ms synchronous stall
      // The probe's tick fell due during the stall, so it runs before this later timer.
      await new Promise((resolve) => setTimeout(resolve, 1));
      const loop = probe.read();
      assert.ok(loop.delayMax >= 140 && loop.delayMax < 1000, JSON.stringify(loop));
    } finally {
      probe.stop();
    }
  });
});

test('the cumulative delay histogram counts every tick since start and is not reset by a sample', async () => {
  await assertNoLeakedHandles(async () => {
    const probe = createEventLoopProbe();
    probe.start();
    try {
      const blockedAt = performance.now();
      while (performance.now() - blockedAt < 200); // a 200 ms synchronous stall
      await new Promise((resolve) => setTimeout(resolve, 1)); // the tick that fell due runs first
      probe.read(); // a sample resets the per-sample histogram, not this one
      await waitFor(() => probe.delays().count >= 3, 'two more ticks');
      const h = probe.delays();
      const detail = JSON.stringify(h);
      assert.equal(h.cumulative.length, h.boundsSeconds.length, detail);
      assert.ok(
        h.cumulative.every((n, i) => i === 0 || n >= h.cumulative[i - 1]!),
        `cumulative: ${detail}`,
      );
      assert.ok(h.cumulative.at(-1)! <= h.count, detail);
      // The stalled tick was ~150 ms late (200 ms minus the 50 ms it was due after): above 0.1 s.
      const upTo100ms = h.cumulative[h.boundsSeconds.indexOf(0.1)]!;
      assert.ok(h.count - upTo100ms >= 1, detail);
      assert.ok(h.sumSeconds >= 0.14, detail);
    } finally {
      probe.stop();
    }
  });
});

test('the probe runs its work on every n-th tick, after recording it, and not after stop()', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const probe = createEventLoopProbe();
  const ticksSeen: number[] = [];
  probe.start({ every: 3, run: () => ticksSeen.push(probe.delays().count) });
  for (let i = 0; i < 7; i++) t.mock.timers.tick(EVENT_LOOP_TICK_MS);
  assert.deepEqual(ticksSeen, [3, 6]);
  probe.stop();
  t.mock.timers.tick(EVENT_LOOP_TICK_MS * 5);
  assert.deepEqual(ticksSeen, [3, 6]);
  probe.start(); // restarted without work: the earlier work is gone
  t.mock.timers.tick(EVENT_LOOP_TICK_MS * 5);
  assert.deepEqual(ticksSeen, [3, 6]);
  probe.stop();
});

test('a monitor whose sample interval is a multiple of the tick sets one timer, otherwise two', async (t) => {
  // Counts the intervals it sets (the real ones run): unref'd timers are not in getActiveResourcesInfo().
  const setIntervalSpy = t.mock.method(globalThis, 'setInterval');
  for (const [sampleInterval, expected] of [
    [250, 1],
    [120, 2],
  ] as const) {
    await assertNoLeakedHandles(async () => {
      const before = setIntervalSpy.mock.callCount();
      const monitor = createMemoryMonitor({ sampleInterval, historyInterval: 0, rssLimit: null });
      try {
        assert.equal(setIntervalSpy.mock.callCount() - before, expected, `sampleInterval ${sampleInterval}`);
        await waitFor(() => monitor.history().length >= 3, 'two timer-driven samples');
      } finally {
        await monitor.close();
      }
    });
  }
});
