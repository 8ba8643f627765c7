// Proxy counters. The hot path only bumps numbers, writes one latency into a ring buffer and
// counts it in a fixed histogram bucket (no allocation); percentiles are computed when someone
// asks (admin endpoint), the histogram is exported to Prometheus, which can aggregate it across
// instances (percentiles cannot be).

export type ErrorKind =
  | 'unreachable'
  | 'timeout'
  | 'bodyTimeout'
  | 'reset'
  | 'clientAbort'
  | 'clientTimeout'
  | 'shed'
  | 'draining'
  | 'pathRejected'
  | 'badRequest'
  | 'other';

export const ERROR_KINDS: readonly ErrorKind[] = [
  'unreachable',
  'timeout',
  'bodyTimeout',
  'reset',
  'clientAbort',
  'clientTimeout',
  'shed',
  'draining',
  'pathRejected',
  'badRequest',
  'other',
];

/** Upper bounds of the upstream latency histogram, seconds (prom-client's defaults, then STREAM_TIMEOUT's default). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BOUNDS_MS = LATENCY_BUCKETS_SECONDS.map((s) => s * 1000);

/** A cumulative histogram: `cumulative[i]` observations were ≤ `bounds[i]`; `count` is all of them (le="+Inf"). */
export interface LatencyHistogram {
  boundsSeconds: readonly number[];
  cumulative: number[];
  sumSeconds: number;
  count: number;
}

export class ProxyCounters {
  requests = 0;
  completed = 0;
  bytesIn = 0;
  bytesOut = 0;
  active = 0;
  errors: Record<ErrorKind, number> = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
  disabled = 0;
  private readonly ring: Float64Array;
  private at = 0;
  private filled = 0;
  // One slot per bound plus one for larger values (+Inf).
  private readonly buckets = new Float64Array(BOUNDS_MS.length + 1);
  private latencySumMs = 0;

  constructor(samples = 2048) {
    this.ring = new Float64Array(samples);
  }

  /** Upstream latency to response headers, ms. */
  latency(ms: number): void {
    this.ring[this.at] = ms;
    this.at = (this.at + 1) % this.ring.length;
    if (this.filled < this.ring.length) this.filled++;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
    this.buckets[i]!++;
    this.latencySumMs += ms;
  }

  /** Every latency since start, in cumulative buckets (Prometheus histogram). */
  histogram(): LatencyHistogram {
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i < BOUNDS_MS.length; i++) cumulative.push((acc += this.buckets[i]!));
    return {
      boundsSeconds: LATENCY_BUCKETS_SECONDS,
      cumulative,
      sumSeconds: this.latencySumMs / 1000,
      count: acc + this.buckets[BOUNDS_MS.length]!,
    };
  }

  /** p50/p90/p99/max over the most recent samples, ms (0 without samples). */
  percentiles(): { p50: number; p90: number; p99: number; max: number; samples: number } {
    const n = this.filled;
    if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0, samples: 0 };
    const s = this.ring.slice(0, n).sort();
    const q = (p: number): number => round(s[Math.min(n - 1, Math.floor(p * n))]!);
    return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: round(s[n - 1]!), samples: n };
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;
