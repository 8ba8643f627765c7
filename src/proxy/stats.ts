// Proxy counters. The hot path only bumps numbers and writes one latency into a ring buffer;
// percentiles are computed when someone asks (admin endpoint, Prometheus scrape).

export type ErrorKind = 'unreachable' | 'timeout' | 'bodyTimeout' | 'reset' | 'clientAbort' | 'clientTimeout' | 'shed' | 'pathRejected' | 'badRequest' | 'other';

export const ERROR_KINDS: readonly ErrorKind[] = ['unreachable', 'timeout', 'bodyTimeout', 'reset', 'clientAbort', 'clientTimeout', 'shed', 'pathRejected', 'badRequest', 'other'];

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

  constructor(samples = 2048) {
    this.ring = new Float64Array(samples);
  }

  /** Upstream latency to response headers, ms. */
  latency(ms: number): void {
    this.ring[this.at] = ms;
    this.at = (this.at + 1) % this.ring.length;
    if (this.filled < this.ring.length) this.filled++;
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
