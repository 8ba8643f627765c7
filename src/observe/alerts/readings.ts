// The condition of each alert, read from the monitor and the injected callbacks. Pure functions of
// their inputs: the alerter decides when to read, Episodes decides what to send.
import { formatBytes, formatDuration } from '../../monitor/report.js';
import type { MemorySample, MemoryStatus, LeakTrend, Thresholds } from '../../monitor/types.js';
import type { Reading } from './episodes.js';

const HOUR_MS = 3_600_000;
const pct = (n: number): string => `${Math.round(n * 10) / 10} %`;

function usage(sample: MemorySample): { value: number; text: string } {
  const heap = sample.v8.heapUsedPercent;
  const rss = sample.rssPercent;
  const text = `heap ${pct(heap)} of the V8 limit${rss === null ? '' : `, RSS ${pct(rss)} of the container limit`}`;
  return { value: Math.round(Math.max(heap, rss ?? 0) * 10) / 10, text };
}

/** memory_warning holds while the status is warning or critical; memory_critical while it is critical. */
export function memoryReadings(status: MemoryStatus, sample: MemorySample, t: Thresholds): { warning: Reading; critical: Reading } {
  const u = usage(sample);
  const text = `memory status ${status}: ${u.text}`;
  return {
    warning: {
      active: status !== 'healthy',
      severity: 'warning',
      value: u.value,
      threshold: t.warningPercent,
      unit: 'percent',
      summary: `${text} (warning at ${t.warningPercent} %)`,
    },
    critical: {
      active: status === 'critical',
      severity: 'critical',
      value: u.value,
      threshold: t.criticalPercent,
      unit: 'percent',
      summary: `${text} (critical at ${t.criticalPercent} %)`,
    },
  };
}

/**
 * Time until the post-GC heap reaches the heap limit at the trend's slope. The post-GC heap (the
 * live set) is what a leak grows; heap used between GCs also holds garbage.
 */
export function heapForecastReading(trend: LeakTrend, postGcHeap: number, heapLimit: number, forecastMs: number): Reading {
  const slope = trend.bytesPerHour;
  const base = { severity: 'critical', threshold: forecastMs, unit: 'ms' } as const;
  if (slope === null || slope <= 0) {
    const why = slope === null ? `no post-GC trend yet (${trend.points} points)` : `post-GC heap not growing (${formatBytes(slope)}/h)`;
    return { ...base, active: false, value: null, summary: `heap forecast: ${why}` };
  }
  const ms = Math.max(0, ((heapLimit - postGcHeap) / slope) * HOUR_MS);
  return {
    ...base,
    active: ms <= forecastMs,
    value: Math.round(ms),
    summary:
      `heap reaches its V8 limit in ${formatDuration(ms / 1000)} at the post-GC trend ` +
      `(+${formatBytes(slope)}/h; post-GC heap ${formatBytes(postGcHeap)} of ${formatBytes(heapLimit)}; alert within ${formatDuration(forecastMs / 1000)})`,
  };
}

/**
 * The median of the samples' p99 delays: most of the interval was slow, not one stall. Fewer than
 * `minSamples` never fire (one slow sample of one would be "most").
 */
export function eventLoopReading(samples: readonly MemorySample[], boundMs: number, minSamples = 1): Reading {
  const p99s = samples.map((s) => s.eventLoop.delayP99).sort((a, b) => a - b);
  const value = p99s.length === 0 ? 0 : p99s[Math.floor((p99s.length - 1) / 2)]!;
  const enough = p99s.length >= minSamples;
  return {
    active: enough && value >= boundMs,
    severity: 'warning',
    value,
    threshold: boundMs,
    unit: 'ms',
    summary: enough
      ? `event-loop delay p99 ${value} ms (median over ${p99s.length} samples; bound ${boundMs} ms)`
      : `event-loop delay: ${p99s.length} of the ${minSamples} samples the median needs so far (bound ${boundMs} ms)`,
  };
}

export function sheddingReading(shed: number, seconds: number, boundPerSecond: number): Reading {
  const rate = seconds > 0 ? shed / seconds : 0;
  const value = Math.round(rate * 1000) / 1000;
  return {
    active: seconds > 0 && rate >= boundPerSecond,
    severity: 'warning',
    value,
    threshold: boundPerSecond,
    unit: 'per_second',
    summary: `${shed} requests shed or refused in ${Math.round(seconds * 10) / 10} s (${value}/s; bound ${boundPerSecond}/s)`,
  };
}

export function l2Reading(available: boolean): Reading {
  return {
    active: !available,
    severity: 'warning',
    value: available ? 1 : 0,
    threshold: 1,
    unit: 'bool',
    summary: available ? 'L2 cache available again' : 'L2 cache (Redis or disk) unavailable: serving from L1 only',
  };
}
