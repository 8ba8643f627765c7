// Robust statistics for the leak verdict: the Theil–Sen slope (median of pairwise slopes) and
// Sen's distribution-free confidence interval for it (the rank interval from Kendall's S).
// Written here rather than taken from a package: none of the dependencies has them, and both are a
// few lines over a sorted array. O(n²) in the number of points; the runner keeps n in the hundreds.

export interface SlopeFit {
  /** Median of the pairwise slopes. */
  slope: number;
  /** Median of y − slope·x. */
  intercept: number;
  /** Two-sided confidence interval of the slope at `confidence`. */
  lo: number;
  hi: number;
  /** Points used, and pairs with distinct x. */
  n: number;
  pairs: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return medianOfSorted(s);
}

function medianOfSorted(s: readonly number[]): number {
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Quantile of the standard normal distribution (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lowTail = 0.02425;
  const poly = (k: number[], x: number): number => k.reduce((acc, v) => acc * x + v, 0);
  if (p < lowTail) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - lowTail) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/**
 * Theil–Sen fit of y on x with Sen's (1968) confidence interval: with N pairwise slopes sorted and
 * C = z·√(n(n−1)(2n+5)/18) (the normal approximation of Kendall's S), the bounds are the
 * ((N−C)/2)-th and ((N+C)/2 + 1)-th slopes (Gilbert 1987, §16.4), rounded outward. Needs no
 * normality of the noise and ignores up to ~29 % of outliers (the breakdown point).
 */
export function theilSen(x: readonly number[], y: readonly number[], confidence = 0.95): SlopeFit {
  if (x.length !== y.length) throw new RangeError(`theilSen: x has ${x.length} points, y has ${y.length}`);
  const n = x.length;
  const slopes: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = x[j]! - x[i]!;
      if (dx !== 0) slopes.push((y[j]! - y[i]!) / dx);
    }
  }
  if (slopes.length === 0) return { slope: NaN, intercept: NaN, lo: -Infinity, hi: Infinity, n, pairs: 0 };
  slopes.sort((a, b) => a - b);
  const slope = medianOfSorted(slopes);
  const intercept = median(x.map((xi, i) => y[i]! - slope * xi));
  const N = slopes.length;
  const c = normalQuantile(1 - (1 - confidence) / 2) * Math.sqrt((n * (n - 1) * (2 * n + 5)) / 18);
  const lower = Math.floor((N - c) / 2); // 1-based rank
  const upper = Math.ceil((N + c) / 2) + 1; // 1-based rank
  return {
    slope,
    intercept,
    lo: lower >= 1 ? slopes[lower - 1]! : -Infinity,
    hi: upper <= N ? slopes[upper - 1]! : Infinity,
    n,
    pairs: N,
  };
}

/**
 * The fewest points (with distinct x) for which theilSen's interval at `confidence` is finite: with
 * fewer, Sen's ranks fall outside the pairwise slopes (6 at 95 %).
 */
export function minPointsForInterval(confidence: number): number {
  const z = normalQuantile(1 - (1 - confidence) / 2);
  for (let n = 2; ; n++) {
    const N = (n * (n - 1)) / 2;
    const c = z * Math.sqrt((n * (n - 1) * (2 * n + 5)) / 18);
    if (Math.floor((N - c) / 2) >= 1 && Math.ceil((N + c) / 2) + 1 <= N) return n;
  }
}

/** Median absolute deviation of the residuals around a fit (a robust noise scale). */
export function residualMad(x: readonly number[], y: readonly number[], fit: Pick<SlopeFit, 'slope' | 'intercept'>): number {
  const r = x.map((xi, i) => y[i]! - (fit.intercept + fit.slope * xi));
  const m = median(r);
  return median(r.map((v) => Math.abs(v - m)));
}

/** Bucketed latency histogram (log scale, ~4 % resolution): bounded memory whatever the request count. */
export class LatencyHistogram {
  // Buckets of width 1/24 in log2 from 1 µs to ~1 h.
  private static readonly PER_OCTAVE = 24;
  private readonly counts = new Float64Array(32 * LatencyHistogram.PER_OCTAVE);
  count = 0;
  max = 0;
  private sum = 0;

  record(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const i = Math.min(this.counts.length - 1, Math.floor(Math.log2(us) * LatencyHistogram.PER_OCTAVE));
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Upper edge of the bucket holding the q-quantile, in ms. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, 2 ** ((i + 1) / LatencyHistogram.PER_OCTAVE) / 1000);
    }
    return this.max;
  }
}
