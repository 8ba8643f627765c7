// Event-loop delay (how late a timer fires, reset on every sample), the same delays counted in
// fixed buckets since start (for a Prometheus histogram), and utilisation deltas.
//
// Not monitorEventLoopDelay: its histogram records the interval between its own ticks, i.e. the
// resolution plus the delay (an idle loop reads ~50 ms at resolution 50), and its reset() also
// forgets the previous tick, so the first interval after every sample is dropped, and with it
// any stall that began there. Here one timer records (now − when the tick was due) itself.
//
// A sample's statistics come from the window's delays themselves (about five at the default
// 250-ms sample interval), not from an HDR histogram: Node's createHistogram() spans 1 … 2^53 in
// ~45 000 buckets (360 KB), which mean, two percentiles and reset() scanned or cleared on every
// sample — ~130 µs of each ~215-µs sample in an idle process.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { EventLoopDelayHistogram, EventLoopStats } from './types.js';

/**
 * Timer period. Each tick is a process wake-up (measured ~80–115 µs of CPU each on the 2-core dev
 * VM): 10 ms alone costs ~1 % of a core, 50 ms ~0.15–0.25 % (most of an idle monitor's CPU). Any
 * stall of 50 ms or more is always caught (the timer falls due during it); shorter ones only partly.
 * The monitor takes its samples on every n-th tick when its interval is a multiple of this.
 */
export const EVENT_LOOP_TICK_MS = 50;
/**
 * Delays kept for one sample's percentiles: 100 s of ticks. A longer sample interval still counts
 * every tick in the mean and max; its percentiles then come from its first 2 000 ticks.
 */
const WINDOW_CAP = 2000;
/** Upper bounds of the cumulative buckets, seconds late: on time is under 1 ms. */
export const DELAY_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Work to run on every `every`-th tick, after the tick is recorded (the monitor's samples). */
export interface TickWork {
  every: number;
  run: () => void;
}

export interface EventLoopProbe {
  /** Starts the timer; with `work`, that timer also runs it (one wake-up instead of two). */
  start(work?: TickWork): void;
  stop(): void;
  /** Stats since the previous read (then resets). */
  read(): EventLoopStats;
  /** Every tick's delay since the probe was created, in fixed buckets (never reset). */
  delays(): EventLoopDelayHistogram;
}

/** Milliseconds to the microsecond. */
const ms = (x: number): number => Math.round(x * 1000) / 1000;

/** The value at or below which `p` % of the sorted `xs` lie (nearest rank). */
const rank = (xs: number[], p: number): number => xs[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]!;

export function createEventLoopProbe(): EventLoopProbe {
  // Milliseconds late per tick since the last read.
  const lateness: number[] = [];
  let windowSum = 0;
  let windowCount = 0;
  let windowMax = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastTick = 0;
  let lastElu: EventLoopUtilization | undefined;
  const bucketCounts = DELAY_BUCKETS_SECONDS.map(() => 0);
  let delaySum = 0;
  let delayCount = 0;
  let work: TickWork | undefined;
  let ticksToWork = 0;

  const clearWindow = (): void => {
    lateness.length = 0;
    windowSum = 0;
    windowCount = 0;
    windowMax = 0;
  };

  const tick = (): void => {
    const now = performance.now();
    // Timers run on the loop's millisecond clock, so an on-time tick can read a little early.
    const lateMs = Math.max(0, now - lastTick - EVENT_LOOP_TICK_MS);
    if (lateness.length < WINDOW_CAP) lateness.push(lateMs);
    windowSum += lateMs;
    windowCount++;
    if (lateMs > windowMax) windowMax = lateMs;
    lastTick = now;
    const late = lateMs / 1000;
    let i = 0;
    while (i < DELAY_BUCKETS_SECONDS.length && late > DELAY_BUCKETS_SECONDS[i]!) i++;
    if (i < bucketCounts.length) bucketCounts[i]!++;
    delaySum += late;
    delayCount++;
    if (work && --ticksToWork === 0) {
      ticksToWork = work.every;
      work.run();
    }
  };

  return {
    start(w) {
      if (timer) return;
      work = w;
      ticksToWork = w?.every ?? 0;
      clearWindow();
      lastTick = performance.now();
      timer = setInterval(tick, EVENT_LOOP_TICK_MS);
      timer.unref();
      lastElu = performance.eventLoopUtilization();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      work = undefined;
    },
    read() {
      const now = performance.eventLoopUtilization();
      const utilization = lastElu ? performance.eventLoopUtilization(now, lastElu).utilization : 0;
      lastElu = now;
      lateness.sort((a, b) => a - b);
      const empty = windowCount === 0;
      const stats: EventLoopStats = {
        delayMean: empty ? 0 : ms(windowSum / windowCount),
        delayP50: empty ? 0 : ms(rank(lateness, 50)),
        delayP99: empty ? 0 : ms(rank(lateness, 99)),
        delayMax: ms(windowMax),
        utilizationPercent: Math.round(utilization * 10_000) / 100,
      };
      clearWindow();
      return stats;
    },
    delays() {
      let acc = 0;
      const cumulative = bucketCounts.map((n) => (acc += n));
      return { boundsSeconds: DELAY_BUCKETS_SECONDS, cumulative, sumSeconds: delaySum, count: delayCount };
    },
  };
}
