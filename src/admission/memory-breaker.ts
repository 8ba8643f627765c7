// The memory circuit breaker: open while heap used ≥ threshold % of the V8 heap limit (sampled on
// an unref'd timer, not per request) or while the monitor reports critical; it closes again only
// below threshold − hysteresis so it does not flap.
import { getHeapStatistics } from 'node:v8';
import type { MemoryStatus, PressureSource } from '../monitor/types.js';

export interface MemoryBreakerOptions {
  /** Percent (1..100) of v8 heap_size_limit. */
  thresholdPercent: number;
  /** Percentage points below the threshold at which the breaker closes again. */
  hysteresisPercent: number;
  /** Sampling period, ms. */
  sampleInterval: number;
  monitor?: PressureSource;
  /** Replaces the heap sampler (tests): returns heap used as a percent of the limit. */
  heapPercent?: () => number;
  /** Called when the monitor turns critical (shedding hook). */
  onCritical?: () => void;
}

export interface MemoryBreaker {
  isOpen(): boolean;
  /** Current heap-used percent (last sample). */
  heapPercent(): number;
  close(): void;
}

const realHeapPercent = (): number => {
  const h = getHeapStatistics();
  return (h.used_heap_size / h.heap_size_limit) * 100;
};

export function createMemoryBreaker(options: MemoryBreakerOptions): MemoryBreaker {
  const threshold = options.thresholdPercent;
  const closeBelow = threshold - options.hysteresisPercent;
  const sample = options.heapPercent ?? realHeapPercent;
  let heapOpen = false;
  let monitorCritical = options.monitor?.status() === 'critical';
  let last = 0;

  const check = (): void => {
    last = sample();
    if (heapOpen ? last >= closeBelow : last >= threshold) heapOpen = true;
    else heapOpen = false;
  };
  check();
  const timer = setInterval(check, options.sampleInterval);
  timer.unref();

  const unsubscribe = options.monitor?.onPressure((level: MemoryStatus) => {
    const was = monitorCritical;
    // The monitor applies its own hysteresis before it reports a lower level.
    monitorCritical = level === 'critical';
    if (monitorCritical && !was) options.onCritical?.();
  });

  return {
    isOpen: () => heapOpen || monitorCritical,
    heapPercent: () => last,
    close: () => {
      clearInterval(timer);
      unsubscribe?.();
    },
  };
}
