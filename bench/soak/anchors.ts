// The rules users have today, applied to the same post-GC samples headroom judges (retained =
// heap used + external − compiled code, after warm-up), so the table compares decision rules, not measurements.
import { retained, type Sample } from '../../src/soak/verdict.js';

/** memwatch / memwatch-next: a leak when the post-GC heap grew over 5 consecutive GCs. */
export function fiveConsecutive(samples: readonly Sample[]): boolean {
  const y = samples.filter((s) => !s.warmup).map(retained);
  let run = 0;
  for (let i = 1; i < y.length; i++) {
    run = y[i]! > y[i - 1]! ? run + 1 : 0;
    if (run >= 5) return true;
  }
  return false;
}

/**
 * A fixed least-squares slope limit, as graphql-hive's memtest does (slope ≤ a constant, no
 * confidence bound). The constant here is ours: 4 KiB per second of retained memory.
 */
export const FIXED_SLOPE_BYTES_PER_S = 4096;
export function fixedSlope(samples: readonly Sample[]): boolean {
  const m = samples.filter((s) => !s.warmup);
  if (m.length < 2) return false;
  const x = m.map((s) => s.t / 1000);
  const y = m.map(retained);
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  return sxx > 0 && sxy / sxx > FIXED_SLOPE_BYTES_PER_S;
}

/** leakage (node-leakage): a leak when the heap grew in at least 2/3 of the iterations. */
export function twoThirds(samples: readonly Sample[]): boolean {
  const y = samples.filter((s) => !s.warmup).map(retained);
  if (y.length < 3) return false;
  let grew = 0;
  for (let i = 1; i < y.length; i++) if (y[i]! > y[i - 1]!) grew++;
  return grew >= ((y.length - 1) * 2) / 3;
}
