// bench/cache: headroom's cache against lru-cache, bentocache (memory tier only) and cache-manager,
// all in the same run. Three parts:
//   1. L1 hit throughput: get and getOrSet ops/s (median of --rounds rounds, contenders interleaved).
//   2. Byte-budget honesty: fill a 64 MiB budget with mixed strings, objects and Buffers (2x the
//      budget is offered), GC, and compare heap growth (used heap + ArrayBuffers) with the budget.
//      lru-cache is shown with the usual length-based sizeCalculation.
//   3. Hit ratio on a Zipf(0.9) trace of 1M requests with capacity = 10% of the distinct keys.
// Usage: npm run bench -- cache [--rounds 5] [--ops 2000000] [--quick]
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { LRUCache } from 'lru-cache';
import { createCache, createL1 } from '../src/cache/index.js';
import { median } from '../src/soak/stats.js';

const args = process.argv.slice(2);
const flag = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const quick = args.includes('--quick');
const ROUNDS = flag('rounds', quick ? 3 : 5);
const SYNC_OPS = flag('ops', quick ? 500_000 : 2_000_000);
const ASYNC_OPS = Math.floor(SYNC_OPS / 8);
const KEYS = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench -- cache does)');

// Deterministic PRNG so every run sees the same data and trace.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const fmt = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : n.toFixed(0));
const mib = (n: number): string => `${(n / 1024 ** 2).toFixed(1)} MiB`;

// ---------- 1. throughput ----------
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}:profile`);
const record = (i: number) => ({ id: i, name: `user ${i}`, email: `u${i}@example.com`, roles: ['reader'], score: i * 1.5 });
const rnd = mulberry32(1);
const pattern = Uint32Array.from({ length: 1 << 16 }, () => Math.floor(rnd() * KEYS));
const MASK = pattern.length - 1;

type Runner = { name: string; sync: boolean; run: (ops: number) => Promise<number> | number };

async function throughputContenders(): Promise<{ runners: Runner[]; close: () => Promise<void> }> {
  const l1 = createL1({ maxBytes: 256 * 1024 ** 2, maxEntries: KEYS * 2 });
  const cache = createCache({ disk: false, l1: { maxBytes: 256 * 1024 ** 2, maxEntries: KEYS * 2 } });
  const lru = new LRUCache<string, object>({ max: KEYS * 2 });
  const bento = new BentoCache({
    default: 'm',
    stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: KEYS * 2, maxSize: 256 * 1024 ** 2 })) },
  });
  const cm = createCacheManager({ ttl: 300_000 });
  for (let i = 0; i < KEYS; i++) {
    const v = record(i);
    l1.set(keys[i]!, v);
    await cache.set(keys[i]!, v);
    lru.set(keys[i]!, v);
    await bento.set({ key: keys[i]!, value: v, ttl: '5m' });
    await cm.set(keys[i]!, v);
  }
  const loader = (): object => ({ never: true });
  let sink = 0;
  const asyncLoop =
    (get: (k: string) => Promise<unknown>) =>
    async (ops: number): Promise<number> => {
      for (let i = 0; i < ops; i++) if ((await get(keys[pattern[i & MASK]!]!)) !== undefined) sink++;
      return sink;
    };
  // The two synchronous loops are written out separately so each call site stays monomorphic.
  const l1Loop = (ops: number): number => {
    for (let i = 0; i < ops; i++) if (l1.get(keys[pattern[i & MASK]!]!) !== undefined) sink++;
    return sink;
  };
  const lruLoop = (ops: number): number => {
    for (let i = 0; i < ops; i++) if (lru.get(keys[pattern[i & MASK]!]!) !== undefined) sink++;
    return sink;
  };
  const runners: Runner[] = [
    { name: 'headroom L1 get (sync)', sync: true, run: l1Loop },
    { name: 'lru-cache get (sync)', sync: true, run: lruLoop },
    { name: 'headroom cache.get', sync: false, run: asyncLoop((k) => cache.get(k)) },
    { name: 'headroom cache.getOrSet', sync: false, run: asyncLoop((k) => cache.getOrSet(k, loader)) },
    { name: 'bentocache get', sync: false, run: asyncLoop((k) => bento.get({ key: k })) },
    { name: 'bentocache getOrSet', sync: false, run: asyncLoop((k) => bento.getOrSet({ key: k, factory: loader, ttl: '5m' })) },
    { name: 'cache-manager get', sync: false, run: asyncLoop((k) => cm.get(k)) },
    { name: 'cache-manager wrap', sync: false, run: asyncLoop((k) => cm.wrap(k, loader)) },
  ];
  return {
    runners,
    close: async () => {
      await cache.close();
      await bento.disconnectAll();
      await cm.disconnect();
    },
  };
}

async function benchThroughput(): Promise<Map<string, number>> {
  const { runners, close } = await throughputContenders();
  const results = new Map<string, number[]>();
  for (const r of runners) await r.run(r.sync ? 100_000 : 20_000); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runners) {
      const ops = r.sync ? SYNC_OPS : ASYNC_OPS;
      const t0 = process.hrtime.bigint();
      await r.run(ops);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      results.set(r.name, [...(results.get(r.name) ?? []), ops / s]);
    }
  }
  await close();
  return new Map([...results].map(([k, v]) => [k, median(v)]));
}

// ---------- 2. byte-budget honesty ----------
const BUDGET = 64 * 1024 ** 2;
function mixedValue(r: () => number, i: number): unknown {
  const x = r();
  if (x < 0.4) return 'abcdefghijklmnopqrstuvwxyz0123456789 '.repeat(2 + Math.floor(r() * 50)).slice(0, 50 + Math.floor(r() * 1950)) + i;
  if (x < 0.8) {
    return {
      id: i,
      name: `item ${i}`,
      description: 'lorem ipsum dolor sit amet '.repeat(1 + Math.floor(r() * 6)),
      price: Math.round(r() * 1e4) / 100,
      tags: ['a', 'b', `t${i % 50}`],
      stock: { warehouse: i % 7, count: Math.floor(r() * 1000) },
      active: r() > 0.5,
    };
  }
  return Buffer.alloc(256 + Math.floor(r() * 16_128), i & 0xff);
}
const lengthOf = (v: unknown): number => (typeof v === 'string' ? v.length : Buffer.isBuffer(v) ? v.length : JSON.stringify(v).length);

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function fill(set: (k: string, v: unknown) => unknown): Promise<void> {
  const r = mulberry32(7);
  let offered = 0;
  for (let i = 0; offered < 2 * BUDGET; i++) {
    const v = mixedValue(r, i);
    offered += lengthOf(v);
    await set(`item:${i}`, v);
  }
}

async function benchBudget(): Promise<{ name: string; growth: number; accounted: number; entries: number }[]> {
  const out: { name: string; growth: number; accounted: number; entries: number }[] = [];
  {
    const base = heap();
    const cache = createCache({ disk: false, l1: { maxBytes: BUDGET, maxEntries: 10_000_000, maxEntryBytes: 1024 ** 2 } });
    await fill((k, v) => cache.set(k, v));
    const growth = heap() - base;
    const s = cache.stats();
    out.push({ name: 'headroom (L1)', growth, accounted: s.l1.bytes, entries: s.l1.entries });
    await cache.close();
  }
  {
    const base = heap();
    const lru = new LRUCache<string, object | string>({ maxSize: BUDGET, sizeCalculation: (v) => Math.max(1, lengthOf(v)) });
    await fill((k, v) => lru.set(k, v as object));
    const growth = heap() - base;
    out.push({ name: 'lru-cache (length-based size)', growth, accounted: lru.calculatedSize, entries: lru.size });
    lru.clear();
  }
  return out;
}

// ---------- 3. Zipf hit ratio ----------
function zipfTrace(n: number, distinct: number, s: number, seed: number): Uint32Array {
  const cdf = new Float64Array(distinct);
  let sum = 0;
  for (let i = 0; i < distinct; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  for (let i = 0; i < distinct; i++) cdf[i]! /= sum;
  // Ranks are scattered over key ids so popularity is not tied to insertion order.
  const perm = Uint32Array.from({ length: distinct }, (_, i) => i);
  const r = mulberry32(seed);
  for (let i = distinct - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const trace = new Uint32Array(n);
  for (let t = 0; t < n; t++) {
    const u = r();
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    trace[t] = perm[lo]!;
  }
  return trace;
}

function benchZipf(): { distinct: number; capacity: number; headroom: number; lru: number } {
  const requests = quick ? 200_000 : 1_000_000;
  const distinct = 100_000;
  const capacity = distinct / 10;
  const trace = zipfTrace(requests, distinct, 0.9, 42);
  const names = Array.from({ length: distinct }, (_, i) => `k${i}`);
  const l1 = createL1({ maxEntries: capacity, maxBytes: 2 ** 40, maxEntryBytes: 2 ** 40, defaultTtl: 3_600_000 });
  const lru = new LRUCache<string, number>({ max: capacity });
  let hH = 0;
  let hL = 0;
  for (let t = 0; t < requests; t++) {
    const k = names[trace[t]!]!;
    if (l1.get(k) !== undefined) hH++;
    else l1.set(k, 1);
    if (lru.get(k) !== undefined) hL++;
    else lru.set(k, 1);
  }
  return { distinct, capacity, headroom: hH / requests, lru: hL / requests };
}

// ---------- report ----------
console.log(`bench/cache — node ${process.version}, rounds ${ROUNDS}, sync ops ${SYNC_OPS}, async ops ${ASYNC_OPS}, ${KEYS} keys\n`);
const tp = await benchThroughput();
const v = (k: string): number => tp.get(k)!;
console.log('1. L1 hit throughput (median ops/s)');
console.table([...tp].map(([name, ops]) => ({ contender: name, 'ops/s': fmt(ops) })));
const ratios = {
  'headroom L1 get / lru-cache get': v('headroom L1 get (sync)') / v('lru-cache get (sync)'),
  'headroom cache.get / lru-cache get': v('headroom cache.get') / v('lru-cache get (sync)'),
  'headroom cache.get / bentocache get': v('headroom cache.get') / v('bentocache get'),
  'headroom getOrSet / bentocache getOrSet': v('headroom cache.getOrSet') / v('bentocache getOrSet'),
  'headroom cache.get / cache-manager get': v('headroom cache.get') / v('cache-manager get'),
  'headroom getOrSet / cache-manager wrap': v('headroom cache.getOrSet') / v('cache-manager wrap'),
};
console.table(Object.entries(ratios).map(([ratio, x]) => ({ ratio, value: `${x.toFixed(2)}x` })));

const budget = await benchBudget();
console.log(`\n2. Byte-budget honesty: ${mib(BUDGET)} budget, 2x that offered (mixed strings, objects, Buffers)`);
console.table(
  budget.map((b) => ({
    cache: b.name,
    entries: b.entries,
    accounted: mib(b.accounted),
    'heap growth after GC': mib(b.growth),
    'growth / budget': `${(b.growth / BUDGET).toFixed(2)}x`,
    'target <= 1.15x': b.growth / BUDGET <= 1.15 ? 'met' : 'NOT met',
  })),
);

const z = benchZipf();
console.log(`\n3. Zipf(0.9) hit ratio, ${quick ? '200k' : '1M'} requests, ${z.distinct} keys, capacity ${z.capacity} (10%)`);
console.table([
  { cache: 'headroom L1 (SIEVE)', 'hit ratio': `${(z.headroom * 100).toFixed(2)}%` },
  { cache: 'lru-cache (LRU)', 'hit ratio': `${(z.lru * 100).toFixed(2)}%` },
]);
console.log(`headroom / lru-cache hit ratio: ${(z.headroom / z.lru).toFixed(3)}x`);
