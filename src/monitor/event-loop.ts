// Event-loop delay (how late a timer fires, reset on every sample), the same delays counted in
// fixed buckets since start (for a Prometheus histogram), and utilisation deltas.
//
// Not monitorEventLoopDelay: its histogram records the interval between its own ticks, i.e. the
// resolution plus the delay (an idle loop reads ~50 ms at resolution 50), and its reset() also
// forgets the previous tick, so the first interval after every sample is dropped, and with it
// any stall that began there. Here one timer records (now − when the tick was due) itself.
import { createHistogram, performance, type EventLoopUtilization, type RecordableHistogram } from 'node:perf_hooks';
import type { EventLoopDelayHistogram, EventLoopStats } from './types.js';

/**
 * Timer period. Each tick is a process wake-up (measured ~80 µs of CPU each on the 2-core dev
 * VM): 10 ms alone costs ~1.3 % of a core, 50 ms ~0.15 %. Any stall of 50 ms or more is always
 * caught (the timer falls due during it); shorter ones only partly.
 */
const RESOLUTION_MS = 50;
const NS_PER_MS = 1e6;
/** Upper bounds of the cumulative buckets, seconds late: on time is under 1 ms. */
export const DELAY_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface EventLoopProbe {
  start(): void;
  stop(): void;
  /** Stats since the previous read (then resets). */
  read(): EventLoopStats;
  /** Every tick's delay since the probe was created, in fixed buckets (never reset). */
  delays(): EventLoopDelayHistogram;
}

const ms = (ns: number): number => (Number.isFinite(ns) ? Math.round((ns / NS_PER_MS) * 1000) / 1000 : 0);

export function createEventLoopProbe(): EventLoopProbe {
  // Nanoseconds late per tick; 1 ns stands for "on time" (a histogram records values >= 1).
  const histogram: RecordableHistogram = createHistogram();
  let timer: NodeJS.Timeout | undefined;
  let lastTick = 0;
  let lastElu: EventLoopUtilization | undefined;
  const bucketCounts = DELAY_BUCKETS_SECONDS.map(() => 0);
  let delaySum = 0;
  let delayCount = 0;

  const tick = (): void => {
    const now = performance.now();
    // Timers run on the loop's millisecond clock, so an on-time tick can read a little early.
    const lateMs = Math.max(0, now - lastTick - RESOLUTION_MS);
    const lateNs = Math.round(lateMs * NS_PER_MS);
    histogram.record(lateNs > 1 ? lateNs : 1);
    lastTick = now;
    const late = lateMs / 1000;
    let i = 0;
    while (i < DELAY_BUCKETS_SECONDS.length && late > DELAY_BUCKETS_SECONDS[i]!) i++;
    if (i < bucketCounts.length) bucketCounts[i]!++;
    delaySum += late;
    delayCount++;
  };

  return {
    start() {
      if (timer) return;
      histogram.reset();
      lastTick = performance.now();
      timer = setInterval(tick, RESOLUTION_MS);
      timer.unref();
      lastElu = performance.eventLoopUtilization();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    read() {
      const now = performance.eventLoopUtilization();
      const utilization = lastElu ? performance.eventLoopUtilization(now, lastElu).utilization : 0;
      lastElu = now;
      // An empty histogram (no tick since reset) reports min = 9.2e18 and mean = NaN: report zeros.
      const empty = histogram.count === 0;
      const stats: EventLoopStats = {
        delayMean: empty ? 0 : ms(histogram.mean),
        delayP50: empty ? 0 : ms(histogram.percentile(50)),
        delayP99: empty ? 0 : ms(histogram.percentile(99)),
        delayMax: empty ? 0 : ms(histogram.max),
        utilizationPercent: Math.round(utilization * 10_000) / 100,
      };
      histogram.reset();
      return stats;
    },
    delays() {
      let acc = 0;
      const cumulative = bucketCounts.map((n) => (acc += n));
      return { boundsSeconds: DELAY_BUCKETS_SECONDS, cumulative, sumSeconds: delaySum, count: delayCount };
    },
  };
}
