// Major GCs and the post-GC heap series (always), and GC pauses by kind (only with MEMORY_GC_PAUSES).
//
// Major GCs are seen through a canary: an empty object held by nothing but a FinalizationRegistry.
// V8's scavenger (Node 20–24) treats weak cells as strong, so only a major (mark-compact) GC
// collects it; the registry's cleanup then runs right after that GC (a task, ~1–3 ms later under
// load), reads the heap and plants the next canary. Nothing runs on a minor GC. Measured against
// PerformanceObserver('gc') on Node 20: every major GC of 56 in 20 s of heavy allocation seen, the
// heap read within 6 MB of the observer's. From Node 26 V8 clears weak references in minor GCs too
// (--handle-weak-ref-weakly-in-minor-gc), and the canary would count scavenges as major GCs: a probe
// at the first start (v8-gc.ts) sees that, and major GCs are then taken from the observer (with its
// cost). Until the probe answers (50 ms after the first start, 150 ms where it falls back) no major
// GC is seen.
//
// Pauses need PerformanceObserver('gc'), which costs on every GC, minor ones included (Node builds an
// entry object for each and dispatches it from an immediate): on the Next.js bench app it added
// ~170 µs (median of 16 rounds) to the p99 latency, and ~5 % of CPU in an allocation-bound loop.
// Hence off by default.
//
// Not v8.GCProfiler: on Node 20 its stop() does not unregister its V8 GC callbacks (only its
// destructor does, once the profiler object is collected), so a stopped profiler goes on recording
// every GC into its own native buffer until a major GC frees it.
import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { GcKindStats, GcStats } from './types.js';
import { weakRefsSurviveScavenges } from './v8-gc.js';

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
  /** A copy of what was seen so far (each major GC ~1–3 ms after it, pauses an immediate after each GC). */
  stats(): GcStats;
}

/**
 * `onHeapAfterGc` gets (performance.now(), used heap bytes) right after each major GC. `pauses`:
 * also count GC pauses by kind (PerformanceObserver('gc'), a cost on every GC: see above).
 */
export function createGcWatcher(pauses: boolean, onHeapAfterGc: (t: number, bytes: number) => void): GcWatcher {
  const byKind = {} as Record<GcKind, GcKindStats>;
  for (const k of GC_KINDS) byKind[k] = { count: 0, totalMs: 0, maxMs: 0 };
  let lastHeapAfterGc: number | null = null;
  let majorGcs = 0;
  let running = false;
  /** How major GCs are seen, once the probe has answered: the canary, or (where it cannot work) the observer. */
  let majorsBy: 'canary' | 'observer' | undefined;
  /** For pauses, and for major GCs where the canary cannot work. */
  let observer: PerformanceObserver | undefined;
  /** The planted canary's unregister token; undefined while none is planted. */
  let token: object | undefined;

  const majorSeen = (): void => {
    majorGcs++;
    lastHeapAfterGc = v8.getHeapStatistics().used_heap_size;
    onHeapAfterGc(performance.now(), lastHeapAfterGc);
  };
  const registry = new FinalizationRegistry<undefined>(() => {
    token = undefined;
    if (!running) return;
    plant(); // first: a listener that throws must not end the watching
    majorSeen();
  });
  function plant(): void {
    if (token !== undefined) return; // one canary at a time: two would count one GC twice
    token = {};
    registry.register({}, undefined, token);
  }

  const onEntries = (entries: PerformanceEntry[]): void => {
    let major = false;
    for (const e of entries) {
      const kind = KIND_NAMES[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'minor';
      if (kind === 'major') major = true;
      if (!pauses) continue;
      const s = byKind[kind];
      s.count++;
      s.totalMs += e.duration;
      if (e.duration > s.maxMs) s.maxMs = e.duration;
    }
    if (major && majorsBy === 'observer') majorSeen();
  };
  const connect = (): void => {
    if (observer || !(pauses || majorsBy === 'observer')) return;
    observer = new PerformanceObserver((list) => onEntries(list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
  };
  const watchMajors = (): void => (majorsBy === 'canary' ? plant() : connect());

  return {
    start() {
      if (running) return;
      running = true;
      connect();
      if (majorsBy !== undefined) return watchMajors();
      // A stop() and start() before the answer make two of these: watchMajors() is idempotent.
      void weakRefsSurviveScavenges().then((kept) => {
        majorsBy ??= kept ? 'canary' : 'observer';
        if (running) watchMajors();
      });
    },
    stop() {
      if (!running) return;
      running = false;
      if (token) registry.unregister(token);
      token = undefined;
      observer?.disconnect();
      observer = undefined;
    },
    stats() {
      let copy: Record<GcKind, GcKindStats> | null = null;
      if (pauses) {
        copy = {} as Record<GcKind, GcKindStats>;
        for (const k of GC_KINDS) copy[k] = { ...byKind[k] };
      }
      return { byKind: copy, majorGcs, majorsBy: majorsBy ?? null, lastHeapAfterGc };
    },
  };
}
