// Reads the snapshot files one at a time (only one graph is ever in memory): counts per
// constructor in each, the constructors that grew in every interval, and for each of those one
// retainer path in the last snapshot, to an object allocated after the one before it.
//
// Incremental: an earlier snapshot only gives counts, so it can be read while the next is being
// taken (take.ts does), and the wait after the last snapshot is that one's parse and the paths.
import { statSync } from 'node:fs';
import { grewEveryInterval, rankByHeld, typicalOf, totalsByClass, type ClassTotals, type GrownClass } from './diff.js';
import { view } from './graph.js';
import type { GrowingFile } from './growing.js';
import { heldByClass } from './held.js';
import { NODE_FIELDS, parseHeapSnapshot, readCounts } from './parse.js';
import { retainerPath, shortestRetainers } from './retainers.js';

export interface SnapshotAnalysis {
  /** Constructors that grew in every interval, most new bytes held first (see held.ts). */
  grown: GrownClass[];
  snapshots: { file: string; bytes: number; nodes: number; atMs?: number }[];
  /**
   * Time spent analysing (reading every snapshot, the diff, the paths), ms — a last snapshot read
   * while it was written counts from its first byte; with `lastMs`, the part after the last
   * snapshot was taken (the rest overlapped the taking of the snapshots).
   */
  analysisMs: number;
  lastMs?: number;
  /**
   * The analysis's own peak RSS above what the process used before it started, bytes: the
   * process's RSS, sampled after every 1 MiB read and every step (within a few MiB of the kernel's
   * high-water mark in measurements). It counts garbage not yet collected and whatever else the
   * process does meanwhile (receiving the later snapshots, the load), and is lower when the heap
   * already had free room before (as a long-running process's has).
   */
  analysisPeakRssBytes: number;
}

export interface SnapshotAnalyzer {
  /** Counts of an earlier snapshot (in order); may run while the next one is being taken. */
  count(file: string): Promise<void>;
  /**
   * The last snapshot: its counts, the diff and the retainer paths. Needs one count() before, ended.
   * With `growing`, the file is read while it is still being written.
   */
  finish(file: string, growing?: GrowingFile): Promise<SnapshotAnalysis>;
}

export function snapshotAnalyzer(limit = 10): SnapshotAnalyzer {
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const probe = (): void => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  };
  let busyMs = 0;
  const totals: ClassTotals[] = [];
  const snapshots: SnapshotAnalysis['snapshots'] = [];
  // One nodes array for all, edges for the last only. The nodes array is made twice as large as the
  // first snapshot needs, so the later (larger: it is a leak) ones fit without a new array while the
  // old one waits for a GC: a fresh ArrayBuffer is untouched zero pages, and the part no snapshot
  // fills costs address space, not RSS.
  let nodes = new Uint32Array(0);
  const read = async (file: string, last: boolean, growing?: GrowingFile) => {
    const counts = await readCounts(file, growing);
    const need = counts.nodes * NODE_FIELDS.length;
    if (nodes.length < need) nodes = new Uint32Array(0); // let the old one go first
    if (nodes.length < need) nodes = new Uint32Array(last ? need : need * 2);
    const reuse = { nodes, ...(last ? { edges: new Uint32Array(counts.edges * counts.edgeFields) } : {}) };
    // Earlier snapshots only give counts: their edges are skipped while reading.
    const v = view(await parseHeapSnapshot(file, { edges: last, onChunk: probe, reuse, ...(growing ? { growing } : {}) }));
    probe();
    totals.push(totalsByClass(v));
    snapshots.push({ file, bytes: statSync(file).size, nodes: v.g.nodeCount });
    return v;
  };
  return {
    async count(file) {
      const t0 = performance.now();
      await read(file, false);
      busyMs += performance.now() - t0;
    },
    async finish(file, growing) {
      if (totals.length < 1) throw new RangeError('analyzeSnapshots: needs at least two snapshots to diff');
      const t0 = performance.now();
      const v = await read(file, true, growing);
      const tree = shortestRetainers(v);
      probe();
      const after = totals[totals.length - 2]!.maxId;
      const grown = rankByHeld(grewEveryInterval(totals, Infinity), heldByClass(v, tree, after), limit);
      probe();
      const examples = typicalOf(v, tree, new Set(grown.map((c) => c.name)), after);
      for (const c of grown) {
        const node = examples.get(c.name);
        if (node !== undefined) c.retainerPath = retainerPath(v, tree, node);
      }
      probe();
      const lastMs = performance.now() - t0;
      busyMs += lastMs;
      return {
        grown,
        snapshots,
        analysisMs: Math.round(busyMs),
        lastMs: Math.round(lastMs),
        analysisPeakRssBytes: Math.max(0, peak - rss0),
      };
    },
  };
}

/** The analysis of snapshot files already taken, oldest first. */
export async function analyzeSnapshots(files: readonly string[], limit = 10): Promise<SnapshotAnalysis> {
  if (files.length < 2) throw new RangeError('analyzeSnapshots: needs at least two snapshots to diff');
  const a = snapshotAnalyzer(limit);
  for (const file of files.slice(0, -1)) await a.count(file);
  return a.finish(files[files.length - 1]!);
}
