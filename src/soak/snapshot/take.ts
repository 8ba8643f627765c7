// On a leak verdict: heap snapshots of the target at intervals with the load running between
// them, then their diff. Each snapshot is taken at a quiet point (load paused) and streamed to a
// file; the files go to a private temporary directory, removed afterwards, unless `dir` is given.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InspectorProbe } from '../inspector.js';
import type { LoadDriver } from '../load.js';
import { snapshotAnalyzer, type SnapshotAnalysis } from './analyze.js';
import { machineRoom, noRoom } from './room.js';

export interface SnapshotReport {
  /** Why no snapshot was taken (no room), or why the diff failed. */
  skipped?: string;
  error?: string;
  /** Time each snapshot took (the target is paused meanwhile), ms. */
  takeMs: number[];
  /** Kept files (when a directory was given). */
  files?: string[];
  analysis?: SnapshotAnalysis;
}

export interface TakeOptions {
  probe: InspectorProbe;
  load: LoadDriver;
  count: number;
  intervalMs: number;
  heapBytes: number;
  /** Keep the files here; default: a temporary directory, removed afterwards. */
  dir?: string;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Free memory and disk; injectable for tests. */
  room?: (dir: string) => { freeMemory: number; freeDisk: number };
}

export async function snapshotDiff(o: TakeOptions): Promise<SnapshotReport> {
  const keep = o.dir !== undefined;
  let dir: string;
  try {
    if (keep) mkdirSync(o.dir!, { recursive: true, mode: 0o700 });
    dir = keep ? o.dir! : mkdtempSync(join(tmpdir(), 'headroom-soak-snapshots-'));
  } catch (err) {
    return { takeMs: [], error: `cannot create the snapshot directory: ${(err as Error).message}` };
  }
  const takeMs: number[] = [];
  const files: string[] = [];
  // Each earlier snapshot is read (counts only) while the next is waited for and taken: the time
  // to a named constructor is then the last snapshot's parse, not all of them.
  let counting: Promise<void> = Promise.resolve();
  let countError: unknown;
  try {
    const skipped = noRoom({ heapBytes: o.heapBytes, snapshots: o.count, ...(o.room ?? machineRoom)(dir) });
    if (skipped) return { skipped, takeMs };
    const analyzer = snapshotAnalyzer();
    for (let k = 0; k < o.count; k++) {
      if (k > 0) await sleep(o.intervalMs, undefined, { signal: o.signal });
      o.onNotice?.(`taking heap snapshot ${k + 1}/${o.count}`);
      const file = join(dir, `snapshot-${k + 1}.heapsnapshot`);
      await o.load.pause();
      const t0 = performance.now();
      try {
        await o.probe.takeHeapSnapshot(file);
      } finally {
        takeMs.push(Math.round(performance.now() - t0));
        o.load.resume();
      }
      files.push(file);
      if (k < o.count - 1)
        counting = counting
          .then(() => (countError === undefined ? analyzer.count(file) : undefined))
          .catch((err: unknown) => void (countError ??= err));
    }
    await o.load.close(); // the analysis below competes for the CPU otherwise
    o.onNotice?.(`diffing ${o.count} heap snapshots`);
    await counting;
    if (countError !== undefined) throw countError;
    const analysis = await analyzer.finish(files[files.length - 1]!);
    return { takeMs, analysis, ...(keep ? { files } : {}) };
  } catch (err) {
    const message = o.signal?.aborted ? 'stopped' : (err as Error).message;
    return { takeMs, error: `heap snapshots: ${message}`, ...(keep ? { files } : {}) };
  } finally {
    await counting; // never rejects: errors land in countError
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
