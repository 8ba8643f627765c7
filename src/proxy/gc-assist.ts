// GC assist for relayed bodies. Each socket read allocates a fresh ArrayBuffer (up to 64 KiB)
// outside the JS heap. V8 counts these as external memory and starts a full GC for them only
// once what was allocated since the last one uses up the old generation's allocation limit
// (tens of MiB on a small heap), so a proxy relaying hundreds of MB/s carries tens of MiB of
// dead read buffers in RSS, more or less depending on GC timing. A
// young-generation GC (a scavenge: ~0.5 ms, proportional to live young objects, not to the heap)
// frees those whose Buffers died young — nearly all of a relayed body. Running one after every
// `everyBytes` relayed keeps that garbage near `everyBytes`.
import type { PressureSource } from '../monitor/types.js';
import { v8Gc } from '../monitor/v8-gc.js';

export interface GcAssist {
  /** Counts relayed bytes; runs a scavenge each time `everyBytes` more have passed. */
  relayed(bytes: number): void;
  /** Scavenges run so far. */
  readonly runs: number;
}

export function createGcAssist(everyBytes: number): GcAssist | undefined {
  if (!(everyBytes > 0)) return undefined;
  const run = v8Gc();
  if (!run) return undefined;
  let pending = 0;
  const assist = {
    runs: 0,
    relayed(bytes: number): void {
      pending += bytes;
      if (pending < everyBytes) return;
      pending %= everyBytes; // at most one run per call, however large the chunk
      assist.runs++;
      run({ type: 'minor', execution: 'sync' });
    },
  };
  return assist;
}

/**
 * A full GC started without blocking (V8 marks concurrently), for the cache's copies (cache-tee.ts);
 * undefined when the GC assist is off (PROXY_GC_ASSIST=0) or gc() cannot be had.
 */
export function fullGc(everyBytes: number): (() => void) | undefined {
  if (!(everyBytes > 0)) return undefined;
  const run = v8Gc();
  return run ? () => run({ type: 'major', execution: 'async' }) : undefined;
}

/** While memory is not healthy, how often a full GC is started again (each ~10–20 ms on a small heap). */
export const PRESSURE_COLLECT_INTERVAL = 2000;

/**
 * Starts a full GC (`collect`) right after the monitor turns warning or critical, and again every
 * PRESSURE_COLLECT_INTERVAL until it is healthy: the cache shrinks or empties its L1 and the proxy
 * drops its copies then, and what they held (and relayed read buffers, writes still finishing) is
 * dead but outside the heap, freed only by a full GC, which V8 does not start while the heap itself
 * is small. Critical only was not enough: a gateway left at warning after a burst kept ~90 MiB of
 * dead Buffers through 30 s of idle, and the next burst's Buffers came on top of them (OOM-killed
 * in a 256 MiB cgroup). Returns the undo.
 */
export function collectUnderPressure(monitor: PressureSource, collect: () => void): () => void {
  let pending: NodeJS.Immediate | undefined;
  let again: NodeJS.Timeout | undefined;
  const stopAgain = (): void => {
    clearInterval(again);
    again = undefined;
  };
  const off = monitor.onPressure((level) => {
    if (level === 'healthy') return stopAgain();
    if (pending !== undefined || again !== undefined) return;
    // After every other listener of this change (the cache's clear) has run.
    pending = setImmediate(() => {
      pending = undefined;
      collect();
    });
    again = setInterval(collect, PRESSURE_COLLECT_INTERVAL);
    again.unref();
  });
  return () => {
    off();
    if (pending !== undefined) clearImmediate(pending);
    pending = undefined;
    stopAgain();
  };
}
