// GC pauses by kind from PerformanceObserver('gc'), reading every entry of each batch, and the
// post-GC heap series.
//
// Post-GC heap: v8.GCProfiler gives exact after-GC numbers, but its stop() builds a record with
// full heap-space statistics for every GC since start() (measured ~60 µs per GC on Node 20) and
// buffers every scavenge until stopped. Instead, when a batch contains a major GC we read
// v8.getHeapStatistics() once: the batch is delivered right after the GC, so used_heap_size is the
// post-GC heap plus what was allocated since (small next to the live set). No --expose-gc needed.
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { GcKindStats, GcStats } from './types.js';

const KIND_NAMES: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
export const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'] as const;

export interface GcWatcher {
  start(): void;
  stop(): void;
  stats(): GcStats;
}

/** `onHeapAfterGc` gets (performance.now(), used heap bytes) after each batch holding a major GC. */
export function createGcWatcher(onHeapAfterGc: (t: number, bytes: number) => void): GcWatcher {
  const byKind: Record<string, GcKindStats> = {};
  for (const k of GC_KINDS) byKind[k] = { count: 0, totalMs: 0, maxMs: 0 };
  let lastHeapAfterGc: number | null = null;
  let observer: PerformanceObserver | undefined;

  const onEntries = (entries: PerformanceEntry[]): void => {
    let major = false;
    for (const e of entries) {
      const kind = KIND_NAMES[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'minor';
      const s = byKind[kind]!;
      s.count++;
      s.totalMs += e.duration;
      if (e.duration > s.maxMs) s.maxMs = e.duration;
      if (kind === 'major') major = true;
    }
    if (major) {
      lastHeapAfterGc = v8.getHeapStatistics().used_heap_size;
      onHeapAfterGc(performance.now(), lastHeapAfterGc);
    }
  };

  return {
    start() {
      if (observer) return;
      observer = new PerformanceObserver((list) => onEntries(list.getEntries()));
      observer.observe({ entryTypes: ['gc'] });
    },
    stop() {
      observer?.disconnect();
      observer = undefined;
    },
    stats() {
      const copy: Record<string, GcKindStats> = {};
      for (const [k, v] of Object.entries(byKind)) copy[k] = { ...v };
      return { byKind: copy, lastHeapAfterGc };
    },
  };
}
