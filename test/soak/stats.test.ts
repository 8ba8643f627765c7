import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, normalQuantile, theilSen, LatencyHistogram } from '../../src/soak/stats.js';
import { parseScenario, createPicker } from '../../src/soak/scenario.js';

/** Deterministic PRNG (mulberry32) and a normal deviate from it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gauss = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('normal quantiles', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232) < 1e-5);
});

test('Theil–Sen on a worked example: slope is the median of the 10 pairwise slopes, Sen interval by rank', () => {
  // Pairwise slopes sorted: -1 -1 1/3 1/2 3/4 1 1 4/3 2 3 → median (3/4 + 1)/2.
  // n = 5 at 90 %: C = 1.645·√(5·4·15/18) = 6.72 → lower rank ⌊(10−6.72)/2⌋ = 1, upper rank ⌈(10+6.72)/2⌉+1 = 10.
  const fit = theilSen([1, 2, 3, 4, 5], [1, 3, 2, 5, 4], 0.9);
  assert.equal(fit.slope, 0.875);
  assert.equal(fit.lo, -1);
  assert.equal(fit.hi, 3);
  assert.equal(fit.pairs, 10);
  // At 95 % the lower rank is ⌊(10−8.0017)/2⌋ = 0: five points cannot bound it below.
  assert.equal(theilSen([1, 2, 3, 4, 5], [1, 3, 2, 5, 4]).lo, -Infinity);
  assert.equal(fit.intercept, median([1, 3, 2, 5, 4].map((y, i) => y - 0.875 * (i + 1))));
});

test('Theil–Sen: exact line, and robust to outliers that wreck least squares', () => {
  const x = Array.from({ length: 30 }, (_, i) => i * 100);
  const exact = theilSen(
    x,
    x.map((v) => 5_000_000 + 48 * v),
  );
  assert.equal(exact.slope, 48);
  assert.equal(exact.lo, 48);
  assert.equal(exact.hi, 48);
  const y = x.map((v) => 5_000_000 + 48 * v);
  y[3] = 9e9; // a snapshot taken mid-allocation
  y[20] = 0;
  const robust = theilSen(x, y);
  assert.ok(Math.abs(robust.slope - 48) < 1, `slope ${robust.slope}`);
});

test('Sen interval covers the true slope about 95 % of the time with noisy data', () => {
  const r = rng(42);
  let covered = 0;
  const trials = 300;
  for (let k = 0; k < trials; k++) {
    const x = Array.from({ length: 25 }, (_, i) => i * 500);
    const y = x.map((v) => 1e6 + 20 * v + 40_000 * gauss(r));
    const fit = theilSen(x, y);
    if (fit.lo <= 20 && 20 <= fit.hi) covered++;
  }
  const rate = covered / trials;
  assert.ok(rate > 0.9 && rate < 0.995, `coverage ${rate}`);
});

test('Theil–Sen refuses mismatched inputs and gives an infinite interval with no pairs', () => {
  assert.throws(() => theilSen([1, 2], [1]), RangeError);
  const none = theilSen([1, 1], [1, 2]);
  assert.ok(Number.isNaN(none.slope));
  assert.equal(none.hi, Infinity);
});

test('latency histogram quantiles within its bucket resolution', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 … 100 ms
  assert.equal(h.count, 1000);
  assert.ok(Math.abs(h.quantile(0.5) - 50) / 50 < 0.05, `p50 ${h.quantile(0.5)}`);
  assert.ok(Math.abs(h.quantile(0.99) - 99) / 99 < 0.05, `p99 ${h.quantile(0.99)}`);
  assert.equal(h.max, 100);
});

test('scenario: normalised, every problem named at once, weighted round-robin', () => {
  const s = parseScenario({
    requests: [
      { path: '/a', weight: 3 },
      { method: 'post', path: '/b', body: { x: 1 } },
    ],
  });
  assert.deepEqual(s[1], { method: 'POST', path: '/b', headers: { 'content-type': 'application/json' }, body: '{"x":1}', weight: 1 });
  assert.throws(
    () => parseScenario([{ method: 'FETCH', path: 'x', weight: -1, extra: 1 }]),
    (e: Error) =>
      /unknown key "extra"/.test(e.message) && /method "FETCH"/.test(e.message) && /path must/.test(e.message) && /weight/.test(e.message),
  );
  assert.throws(() => parseScenario([]), TypeError);
  const pick = createPicker(s);
  const seq = Array.from({ length: 8 }, () => pick().path).join('');
  assert.equal([...seq].filter((c) => c === '/').length, 8);
  assert.equal(seq.split('/a').length - 1, 6);
});
