// On a leak verdict: heap snapshots of the target at intervals with the load running between
// them, then their diff. Each snapshot is taken at a quiet point (load paused) and streamed to a
// file; the files go to a private temporary directory, removed afterwards, unless `dir` is given.
//
// The time to a named constructor is nearly all V8 writing each snapshot inside the target (about
// 3.4 µs of CPU per heap node on a 2-core VM: 26 s for a 470 MiB heap), which headroom cannot
// shorten. So the first snapshot's time decides how many follow within the budget (never fewer
// than 2: one interval), and the last one is parsed while V8 is still writing it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { makeDirSync } from '../../options/make-dir.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InspectorProbe } from '../inspector.js';
import type { LoadDriver } from '../load.js';
import { snapshotAnalyzer, type SnapshotAnalysis } from './analyze.js';
import { growingFile, type GrowingFileWriter } from './growing.js';
import { machineRoom, noRoom } from './room.js';

export interface SnapshotReport {
  /** Why no snapshot was taken (no room), or why the diff failed. */
  skipped?: string;
  error?: string;
  /** Time each snapshot took (the target is paused meanwhile), ms. */
  takeMs: number[];
  /** Load time between two snapshots, ms: as asked, or less to fit the budget (then `planned` says why). */
  intervalMs: number;
  /** Why fewer snapshots than asked were taken, or closer together (the budget). */
  planned?: string;
  /** Kept files (when a directory was given). */
  files?: string[];
  analysis?: SnapshotAnalysis;
}

export interface TakeOptions {
  probe: InspectorProbe;
  load: LoadDriver;
  count: number;
  intervalMs: number;
  /**
   * Time from the first snapshot to the named constructor to aim for, ms (0: none). When the first
   * snapshot shows that `count` of them `intervalMs` apart would overrun it, fewer are taken (not
   * under 2) and closer together (not under MIN_INTERVAL_MS).
   */
  budgetMs?: number;
  heapBytes: number;
  /** Keep the files here; default: a temporary directory, removed afterwards. */
  dir?: string;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Free memory and disk; injectable for tests. */
  room?: (dir: string) => { freeMemory: number; freeDisk: number };
}

/** Snapshots are not planned closer together than this: the leak needs time to show between two. */
export const MIN_INTERVAL_MS = 2_000;
/**
 * The wait after the last snapshot, as a share of one snapshot's time: its parse overlaps V8
 * writing it, what is left is the rest of the parse and the paths (about 1 s after a 26 s one).
 */
const TAIL_SHARE = 0.1;

/**
 * How many snapshots, how far apart, once the first took `firstMs`: as asked if that fits the
 * budget; else the same number closer together (down to MIN_INTERVAL_MS); else fewer (down to 2),
 * as far apart as still fits.
 */
export function planSnapshots(o: { count: number; intervalMs: number; budgetMs: number; firstMs: number }): {
  count: number;
  intervalMs: number;
  planned?: string;
} {
  const total = (n: number, gap: number): number => n * o.firstMs + (n - 1) * gap + TAIL_SHARE * o.firstMs;
  const fit = (n: number): number => Math.floor((o.budgetMs - total(n, 0)) / (n - 1));
  if (!(o.budgetMs > 0) || total(o.count, o.intervalMs) <= o.budgetMs) return { count: o.count, intervalMs: o.intervalMs };
  let count = o.count;
  while (count > 2 && fit(count) < MIN_INTERVAL_MS) count--;
  const intervalMs = Math.min(o.intervalMs, Math.max(MIN_INTERVAL_MS, fit(count)));
  const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const over = total(count, intervalMs) > o.budgetMs ? ` (even so, about ${sec(total(count, intervalMs))} by estimate)` : '';
  return {
    count,
    intervalMs,
    planned: `the first snapshot took ${sec(o.firstMs)}: ${count} snapshots ${sec(intervalMs)} apart instead of ${o.count} ${sec(o.intervalMs)} apart, to name the leak within the ${sec(o.budgetMs)} budget${over}`,
  };
}

export async function snapshotDiff(o: TakeOptions): Promise<SnapshotReport> {
  const keep = o.dir !== undefined;
  let dir: string;
  try {
    if (keep) makeDirSync(o.dir!, 0o700);
    dir = keep ? o.dir! : mkdtempSync(join(tmpdir(), 'headroom-soak-snapshots-'));
  } catch (err) {
    return { takeMs: [], intervalMs: o.intervalMs, error: `cannot create the snapshot directory: ${(err as Error).message}` };
  }
  const takeMs: number[] = [];
  const files: string[] = [];
  let plan: ReturnType<typeof planSnapshots> = { count: o.count, intervalMs: o.intervalMs };
  // Each earlier snapshot is read (counts only) while the next is waited for and taken; the last
  // is read while V8 is still writing it (growing.ts).
  let counting: Promise<void> = Promise.resolve();
  let countError: unknown;
  let finishing: Promise<SnapshotAnalysis> | undefined;
  try {
    const skipped = noRoom({ heapBytes: o.heapBytes, snapshots: o.count, ...(o.room ?? machineRoom)(dir) });
    if (skipped) return { skipped, takeMs, intervalMs: o.intervalMs };
    const analyzer = snapshotAnalyzer();
    for (let k = 0; k < plan.count; k++) {
      if (k > 0) await sleep(plan.intervalMs, undefined, { signal: o.signal });
      const last = k === plan.count - 1;
      o.onNotice?.(`taking heap snapshot ${k + 1}/${plan.count}`);
      const file = join(dir, `snapshot-${k + 1}.heapsnapshot`);
      let growing: GrowingFileWriter | undefined;
      if (last) {
        await counting; // one graph at a time: the earlier one's counts are in first
        if (countError !== undefined) throw countError;
        writeFileSync(file, '', { mode: 0o600 }); // there to be opened before V8's first chunk
        growing = growingFile();
        finishing = analyzer.finish(file, growing);
        finishing.catch(() => {}); // awaited below; a failed take is the error to report
      }
      await o.load.pause();
      const t0 = performance.now();
      try {
        await o.probe.takeHeapSnapshot(file, growing?.wrote);
      } finally {
        growing?.finish();
        takeMs.push(Math.round(performance.now() - t0));
        o.load.resume();
      }
      files.push(file);
      if (k === 0 && o.budgetMs) {
        plan = planSnapshots({ count: o.count, intervalMs: o.intervalMs, budgetMs: o.budgetMs, firstMs: takeMs[0]! });
        if (plan.planned) o.onNotice?.(plan.planned);
      }
      if (k < plan.count - 1)
        counting = counting
          .then(() => (countError === undefined ? analyzer.count(file) : undefined))
          .catch((err: unknown) => void (countError ??= err));
    }
    const takenAt = performance.now();
    await o.load.close(); // the analysis below competes for the CPU otherwise
    o.onNotice?.(`diffing ${plan.count} heap snapshots`);
    const analysis = await finishing!;
    analysis.lastMs = Math.round(performance.now() - takenAt);
    return {
      takeMs,
      intervalMs: plan.intervalMs,
      analysis,
      ...(plan.planned ? { planned: plan.planned } : {}),
      ...(keep ? { files } : {}),
    };
  } catch (err) {
    const message = o.signal?.aborted ? 'stopped' : (err as Error).message;
    return { takeMs, intervalMs: plan.intervalMs, error: `heap snapshots: ${message}`, ...(keep ? { files } : {}) };
  } finally {
    await counting; // never rejects: errors land in countError
    await finishing?.catch(() => {});
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
