// How many heap snapshots fit the budget once the first one's time is known, and reading a
// snapshot file while it is still being written.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeHeapSnapshot } from 'node:v8';
import { growingFile } from '../../src/soak/snapshot/growing.js';
import { HeapSnapshotFormatError, parseHeapSnapshot, readCounts } from '../../src/soak/snapshot/parse.js';
import { MIN_INTERVAL_MS, planSnapshots } from '../../src/soak/snapshot/take.js';

const dir = mkdtempSync(join(tmpdir(), 'headroom-snap-plan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a snapshot plan: as asked when it fits; else closer together; else fewer, never under two', () => {
  const asked = { count: 3, intervalMs: 5_000, budgetMs: 60_000 };
  // 3 × 10 s + 2 × 5 s + 1 s of tail = 41 s: fits.
  assert.deepEqual(planSnapshots({ ...asked, firstMs: 10_000 }), { count: 3, intervalMs: 5_000 });
  // 3 × 17 s + 1.7 s leaves 7.3 s: two gaps of 3.65 s.
  const closer = planSnapshots({ ...asked, firstMs: 17_000 });
  assert.equal(closer.count, 3);
  assert.equal(closer.intervalMs, 3_650);
  assert.match(
    closer.planned!,
    /^the first snapshot took 17\.0 s: 3 snapshots 3\.6 s apart instead of 3 5\.0 s apart, to name the leak within the 60\.0 s budget$/,
  );
  // 3 × 26 s is over the budget: two snapshots, 60 − 52 − 2.6 = 5.4 s apart, capped at the 5 s asked.
  assert.deepEqual(planSnapshots({ ...asked, firstMs: 26_000 }).count, 2);
  assert.equal(planSnapshots({ ...asked, firstMs: 26_000 }).intervalMs, 5_000);
  assert.equal(planSnapshots({ ...asked, firstMs: 27_000 }).intervalMs, 3_300);
  // Nothing fits: two snapshots at the shortest interval, and the message says so.
  const over = planSnapshots({ ...asked, firstMs: 40_000 });
  assert.deepEqual([over.count, over.intervalMs], [2, MIN_INTERVAL_MS]);
  assert.match(over.planned!, /\(even so, about 86\.0 s by estimate\)$/);
  // An interval asked below the shortest planned one is kept; no budget, no plan.
  assert.equal(planSnapshots({ ...asked, intervalMs: 500, firstMs: 40_000 }).intervalMs, 500);
  assert.deepEqual(planSnapshots({ ...asked, budgetMs: 0, firstMs: 600_000 }), { count: 3, intervalMs: 5_000 });
  assert.deepEqual(planSnapshots({ count: 2, intervalMs: 5_000, budgetMs: 60_000, firstMs: 100_000 }).count, 2);
});

/** Copies `from` into a new file piece by piece, a macrotask apart, as the inspector's chunks arrive. */
async function writeSlowly(from: Buffer, to: string, pieces: number[], w: ReturnType<typeof growingFile>): Promise<void> {
  const fd = openSync(to, 'a');
  try {
    let at = 0;
    for (const size of pieces) {
      await new Promise((r) => setImmediate(r));
      at += writeSync(fd, from, at, Math.min(size, from.length - at));
      w.wrote();
    }
  } finally {
    closeSync(fd);
    w.finish();
  }
}

test('a snapshot read while it is being written gives the same graph as the finished file', async () => {
  const file = writeHeapSnapshot(join(dir, 'whole.heapsnapshot'));
  const bytes = readFileSync(file);
  const whole = await parseHeapSnapshot(file);
  const growingPath = join(dir, 'growing.heapsnapshot');
  writeFileSync(growingPath, ''); // opened before the first byte is there
  const w = growingFile();
  // Odd sizes: pieces end inside the header, numbers and strings.
  const pieces = [7, 100, 3000, ...Array.from({ length: Math.ceil(bytes.length / 65_537) }, () => 65_537)];
  const [counts, graph] = await Promise.all([
    readCounts(growingPath, w),
    parseHeapSnapshot(growingPath, { growing: w }),
    writeSlowly(bytes, growingPath, pieces, w),
  ]);
  assert.equal(counts.nodes, whole.nodeCount);
  assert.equal(graph.nodeCount, whole.nodeCount);
  assert.deepEqual(graph.nodes, whole.nodes);
  assert.deepEqual(graph.edges, whole.edges);
  assert.deepEqual(graph.strings, whole.strings);
});

test('a snapshot whose writing stops half way is refused as truncated, not waited for', async () => {
  const bytes = readFileSync(writeHeapSnapshot(join(dir, 'half-source.heapsnapshot')));
  const path = join(dir, 'half.heapsnapshot');
  writeFileSync(path, '');
  const w = growingFile();
  const parsing = parseHeapSnapshot(path, { growing: w });
  await writeSlowly(bytes.subarray(0, bytes.length >> 1), path, [65_536, 65_536, bytes.length], w);
  await assert.rejects(parsing, HeapSnapshotFormatError);
});
