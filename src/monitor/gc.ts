// GC pauses by kind from PerformanceObserver('gc'), reading every entry of each batch, and the
// post-GC heap series.
//
// Not v8.GCProfiler, though it would give the exact heap after each GC: on Node 20 its stop() does
// not unregister its V8 GC callbacks (only its destructor does, once the profiler object is
// collected), so a stopped profiler goes on recording every GC into its own native buffer until a
// major GC frees it. Reading one at every sample (a new profiler each time) kept ~200 of them
// recording under load: +700 MB of RSS in a minute and ~2 % of a core (bench/adapters'
// NestJS-on-Fastify app). One never-stopped profiler would buffer every GC without bound.
//
// Post-GC heap: when a batch contains a major GC we read v8.getHeapStatistics() once. The batch is
// delivered right after the GC (an immediate), so used_heap_size is the post-GC heap plus what was
// allocated since (small next to the live set). No --expose-gc needed.
import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { GcKindStats, GcStats } from './types.js';

const KIND_NAMES: Record<number, GcKind> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
export const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'] as const;
type GcKind = (typeof GC_KINDS)[number];

export interface GcWatcher {
  start(): void;
  stop(): void;
  /** A copy of the totals of the GCs delivered so far (delivery follows each GC by an immediate). */
  stats(): GcStats;
}

/** `onHeapAfterGc` gets (performance.now(), used heap bytes) after each batch holding a major GC. */
export function createGcWatcher(onHeapAfterGc: (t: number, bytes: number) => void): GcWatcher {
  const byKind = {} as Record<GcKind, GcKindStats>;
  for (const k of GC_KINDS) byKind[k] = { count: 0, totalMs: 0, maxMs: 0 };
  let lastHeapAfterGc: number | null = null;
  let observer: PerformanceObserver | undefined;

  const onEntries = (entries: PerformanceEntry[]): void => {
    let major = false;
    for (const e of entries) {
      const kind = KIND_NAMES[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'minor';
      const s = byKind[kind];
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
      const copy = {} as Record<GcKind, GcKindStats>;
      for (const k of GC_KINDS) copy[k] = { ...byKind[k] };
      return { byKind: copy, lastHeapAfterGc };
    },
  };
}
