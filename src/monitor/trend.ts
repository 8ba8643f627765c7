// Post-GC heap series and its least-squares slope (the leak trend). Bounded: the window is split
// into BUCKETS slots and each slot keeps the smallest post-GC heap seen in it (the smallest is the
// best estimate of the live set), so a GC-heavy process cannot grow the series.
import type { LeakTrend } from './types.js';

const BUCKETS = 512;
const HOUR_MS = 3_600_000;
/** Fewer points than this (or a span under MIN_SPAN_MS) gives no slope: too noisy to mean anything. */
const MIN_POINTS = 3;

export interface TrendPoint {
  /** Milliseconds (any monotonic origin). */
  t: number;
  bytes: number;
}

/** Least-squares slope of bytes over time, in bytes per hour; null when it cannot be fitted. */
export function leastSquaresSlope(points: readonly TrendPoint[]): number | null {
  const n = points.length;
  if (n < 2) return null;
  // Centre on the first point so large timestamps do not cost precision.
  const t0 = points[0]!.t;
  let sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0;
  for (const p of points) {
    const x = p.t - t0;
    sx += x;
    sy += p.bytes;
    sxx += x * x;
    sxy += x * p.bytes;
  }
  const denom = n * sxx - sx * sx;
  if (denom === 0) return null;
  return ((n * sxy - sx * sy) / denom) * HOUR_MS;
}

export interface TrendOptions {
  windowMs: number;
  /** Points before this time (same clock as `t`) are dropped as warm-up. */
  warmupUntil: number;
  minSpanMs?: number;
}

export class PostGcTrend {
  private points: TrendPoint[] = [];
  private readonly bucketMs: number;
  private readonly minSpanMs: number;

  constructor(private readonly opts: TrendOptions) {
    this.bucketMs = Math.max(1, opts.windowMs / BUCKETS);
    this.minSpanMs = opts.minSpanMs ?? Math.min(60_000, opts.windowMs / 10);
  }

  add(t: number, bytes: number): void {
    if (t < this.opts.warmupUntil) return;
    const last = this.points.at(-1);
    if (last && Math.floor(last.t / this.bucketMs) === Math.floor(t / this.bucketMs)) {
      if (bytes < last.bytes) this.points[this.points.length - 1] = { t, bytes };
    } else {
      this.points.push({ t, bytes });
    }
    this.prune(t);
  }

  trend(now: number): LeakTrend {
    this.prune(now);
    const pts = this.points;
    const span = pts.length ? pts[pts.length - 1]!.t - pts[0]!.t : 0;
    const slope = pts.length >= MIN_POINTS && span >= this.minSpanMs ? leastSquaresSlope(pts) : null;
    return { bytesPerHour: slope === null ? null : Math.round(slope), points: pts.length, windowMs: this.opts.windowMs };
  }

  get size(): number {
    return this.points.length;
  }

  private prune(now: number): void {
    const cutoff = now - this.opts.windowMs;
    let drop = 0;
    while (drop < this.points.length && this.points[drop]!.t < cutoff) drop++;
    // Hard cap as a second guard (e.g. a clock that jumps backwards).
    drop = Math.max(drop, this.points.length - (BUCKETS + 1));
    if (drop > 0) this.points.splice(0, drop);
  }
}
