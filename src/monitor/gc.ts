// GC pauses by kind and the post-GC heap series, from v8.GCProfiler drained on every sample.
//
// Not PerformanceObserver('gc'): with one connected, allocation-heavy code ran 6–9 % slower on
// Node 20 (in-process A/B, the observer connected and disconnected in turn; same instruction count
// under valgrind, so not the callback's own work) — a monitor must not cost that. GCProfiler's V8
// callbacks record each GC in native memory (~3 KB of JSON per GC until drained, so a sample
// interval of GCs); drain() turns them into counts (~20 µs per GC at the sample, measured) and gives
// the exact heap after each major GC, where the observer gave only its time.
import { performance } from 'node:perf_hooks';
import { GCProfiler, type GCProfilerResult } from 'node:v8';
import type { GcKindStats, GcStats } from './types.js';

/** GCProfiler's gcType names (V8's GCType) → our kinds; MinorMarkSweep is V8's other young-generation collector. */
const KINDS: Record<string, GcKind> = {
  Scavenge: 'minor',
  MinorMarkSweep: 'minor',
  MinorMarkCompact: 'minor',
  MarkSweepCompact: 'major',
  IncrementalMarking: 'incremental',
  ProcessWeakCallbacks: 'weakcb',
};
export const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'] as const;
type GcKind = (typeof GC_KINDS)[number];

export interface GcWatcher {
  start(): void;
  stop(): void;
  /** Counts the GCs recorded since the last drain (the monitor calls it on every sample). */
  drain(): void;
  /** Drains, then returns a copy of the totals. */
  stats(): GcStats;
}

/** `onHeapAfterGc` gets (performance.now(), used heap bytes after the GC) for the last major GC of each drain. */
export function createGcWatcher(onHeapAfterGc: (t: number, bytes: number) => void): GcWatcher {
  const byKind = {} as Record<GcKind, GcKindStats>;
  for (const k of GC_KINDS) byKind[k] = { count: 0, totalMs: 0, maxMs: 0 };
  let lastHeapAfterGc: number | null = null;
  let profiler: GCProfiler | undefined;

  const count = (records: GCProfilerResult['statistics']): void => {
    let heapAfterMajor: number | undefined;
    for (const r of records) {
      const kind = KINDS[r.gcType] ?? 'minor';
      const s = byKind[kind];
      const ms = r.cost / 1000; // cost is in microseconds
      s.count++;
      s.totalMs += ms;
      if (ms > s.maxMs) s.maxMs = ms;
      if (kind === 'major') heapAfterMajor = r.afterGC.heapStatistics.usedHeapSize;
    }
    if (heapAfterMajor !== undefined) {
      lastHeapAfterGc = heapAfterMajor;
      onHeapAfterGc(performance.now(), heapAfterMajor);
    }
  };

  const watcher: GcWatcher = {
    start() {
      if (profiler) return;
      profiler = new GCProfiler();
      profiler.start();
    },
    stop() {
      const last = profiler?.stop();
      profiler = undefined;
      if (last) count(last.statistics);
    },
    drain() {
      if (!profiler) return;
      // The next profiler starts before the current one stops, so a GC set off while the records
      // are read back (stop() builds and parses their JSON) is recorded, not lost.
      const next = new GCProfiler();
      next.start();
      const done = profiler.stop();
      profiler = next;
      count(done.statistics);
    },
    stats() {
      watcher.drain();
      const copy = {} as Record<GcKind, GcKindStats>;
      for (const k of GC_KINDS) copy[k] = { ...byKind[k] };
      return { byKind: copy, lastHeapAfterGc };
    },
  };
  return watcher;
}
