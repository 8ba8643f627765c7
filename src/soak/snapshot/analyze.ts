// Reads the snapshot files one at a time (only one graph is ever in memory): counts per
// constructor in each, the constructors that grew in every interval, and for each of those one
// retainer path in the last snapshot, to an object allocated after the one before it.
import { statSync } from 'node:fs';
import { grewEveryInterval, newestOf, rankByHeld, totalsByClass, type ClassTotals, type GrownClass } from './diff.js';
import { view } from './graph.js';
import { heldByClass } from './held.js';
import { NODE_FIELDS, parseHeapSnapshot, readCounts } from './parse.js';
import { retainerPath, shortestRetainers } from './retainers.js';

export interface SnapshotAnalysis {
  /** Constructors that grew in every interval, most new bytes held first (see held.ts). */
  grown: GrownClass[];
  snapshots: { file: string; bytes: number; nodes: number; atMs?: number }[];
  /** Time the analysis took, and its own peak RSS above what the process used before, bytes. */
  analysisMs: number;
  analysisPeakRssBytes: number;
}

export async function analyzeSnapshots(files: readonly string[], limit = 10): Promise<SnapshotAnalysis> {
  if (files.length < 2) throw new RangeError('analyzeSnapshots: needs at least two snapshots to diff');
  const t0 = performance.now();
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const probe = (): void => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  };
  const totals: ClassTotals[] = [];
  const snapshots: SnapshotAnalysis['snapshots'] = [];
  let grown: GrownClass[] = [];
  // One nodes array for all (sized for the largest), edges for the last only.
  const counts = await Promise.all(files.map(readCounts));
  const reuse = {
    nodes: new Uint32Array(Math.max(...counts.map((c) => c.nodes)) * NODE_FIELDS.length),
    edges: new Uint32Array(counts[counts.length - 1]!.edges * counts[counts.length - 1]!.edgeFields),
  };
  for (let k = 0; k < files.length; k++) {
    const file = files[k]!;
    const last = k === files.length - 1;
    // Earlier snapshots only give counts: their edges are skipped while reading.
    const v = view(await parseHeapSnapshot(file, { edges: last, onChunk: probe, reuse }));
    probe();
    totals.push(totalsByClass(v));
    snapshots.push({ file, bytes: statSync(file).size, nodes: v.g.nodeCount });
    if (!last) continue;
    const tree = shortestRetainers(v);
    probe();
    const after = totals[totals.length - 2]!.maxId;
    grown = rankByHeld(grewEveryInterval(totals, Infinity), heldByClass(v, tree, after), limit);
    probe();
    const examples = newestOf(v, new Set(grown.map((c) => c.name)), after, (node) => tree.parentNode[node] !== -1);
    for (const c of grown) {
      const node = examples.get(c.name);
      if (node !== undefined) c.retainerPath = retainerPath(v, tree, node);
    }
    probe();
  }
  return { grown, snapshots, analysisMs: Math.round(performance.now() - t0), analysisPeakRssBytes: Math.max(0, peak - rss0) };
}
