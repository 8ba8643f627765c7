// In the spirit of lru-cache's avoid-memory-leak test: many operations over a small budget, then
// a forced GC; the heap must not grow by more than the budget (plus a little noise). And what L1
// counts for each kind of entry is what the heap holds for it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCache } from '../../src/cache/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test('L1 heap use stays within its byte budget after 60k mixed operations', { skip: gc ? false : 'needs --expose-gc' }, async () => {
  const budget = 4 * 1024 ** 2;
  const run = async (ops: number) => {
    const cache = createCache({ disk: false, l1: { maxBytes: budget, maxEntries: 1_000_000, maxEntryBytes: 256 * 1024 } });
    for (let i = 0; i < ops; i++) {
      const k = `k${i % 20_000}`;
      const kind = i % 3;
      const v =
        kind === 0
          ? 'x'.repeat(i % 2000) + i
          : kind === 1
            ? { i, s: 'y'.repeat(i % 500), a: [i, i + 1] }
            : Buffer.alloc(i % 4096, i & 0xff);
      await cache.set(k, v, { tags: [`t${i % 10}`] });
      await cache.get(`k${(i * 7) % 20_000}`);
      if (i % 10_000 === 0) await cache.invalidateByTag(`t${i % 10}`);
    }
    return cache;
  };
  // A warm-up first, so that the code this runs (bytecode, feedback, optimised code: heap too) is
  // in the baseline, not counted as the cache's.
  await (await run(6_000)).close();
  const base = heap();
  const cache = await run(60_000);
  const s = cache.stats();
  assert.ok(s.l1.bytes <= budget);
  const growth = heap() - base;
  assert.ok(growth < budget * 1.15 + 2 * 1024 ** 2, `heap grew ${growth} bytes for a ${budget}-byte budget`);
  await cache.close();
});

test('per-kind byte accounting is within [0.7, 1.15] of the measured heap cost', { skip: gc ? false : 'needs --expose-gc' }, async () => {
  const { createL1 } = await import('../../src/cache/index.js');
  const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 300 }, (_, j) => [`field${j}`, j])));
  const kinds: [string, (i: number) => unknown, ((i: number) => string[])?, number?][] = [
    ['short strings', (i) => `value-${i}`],
    ['1 KiB strings', (i) => 'z'.repeat(1000) + i],
    ['non-ASCII strings', (i) => '✓'.repeat(200) + i],
    ['small Buffers', (i) => Buffer.alloc(64, i & 0xff)],
    ['4 KiB Buffers', (i) => Buffer.alloc(4096, i & 0xff)],
    ['records', (i) => ({ id: i, name: `n${i}`, price: i / 3, tags: ['a', 'b'], ok: true })],
    // Tags: the entry's array and strings, the index's slots, and a Set per tag in use.
    ['short strings, 3 tags of 10', (i) => `value-${i}`, (i) => [`tag-${i % 10}`, `tag-${(i + 1) % 10}`, `tag-${(i + 2) % 10}`]],
    ['short strings, a tag of their own', (i) => `value-${i}`, (i) => [`product-${i}`]],
    // Property names: shared by records of one shape, but a name and a shape each when keyed by ids.
    ['objects keyed by id', (i) => ({ [`user${i}`]: { n: i } })],
    ['objects of three names of their own', (i) => ({ [`a${i}`]: i, [`b${i}`]: i, [`c${i}`]: i })],
    ['objects keyed by a 2 000-character name', (i) => ({ [`${i}:${'k'.repeat(2000)}`]: 1 })],
    ['40-name records of one shape', () => Object.fromEntries(Array.from({ length: 40 }, (_, j) => [`field${j}`, j]))],
    ['40 names of their own', (i) => Object.fromEntries(Array.from({ length: 40 }, (_, j) => [`k${j}_${i}`, j]))],
    // Past 128 keys V8 keeps a dictionary per object, names shared or not.
    ['300-name records of one shape', () => JSON.parse(wide) as unknown, undefined, 2_000],
  ];
  for (const [name, make, tags, count = 20_000] of kinds) {
    const base = heap();
    const l1 = createL1({ maxBytes: 2 ** 40, maxEntries: 1e7, maxEntryBytes: 2 ** 40 });
    for (let i = 0; i < count; i++) l1.set(`key:${i}`, make(i), { tags: tags?.(i) });
    const ratio = (heap() - base) / l1.bytes;
    assert.ok(ratio >= 0.7 && ratio <= 1.15, `${name}: heap cost / accounted = ${ratio.toFixed(3)}`);
    l1.clear();
  }
});
