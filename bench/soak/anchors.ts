// The rules users have today, scored two ways on the same post-GC samples:
//  - "judged": the series headroom judges (retained = heap used + external − compiled code, after
//    warm-up), so the rows compare decision rules, not measurements;
//  - "as measured": what those tools look at themselves — heap used (compiled code included) from
//    the first sample, warm-up included.
import { retained, type Sample } from '../../src/soak/verdict.js';

export type Series = 'judged' | 'as measured';
const series = (samples: readonly Sample[], how: Series): { t: number; y: number }[] =>
  how === 'judged'
    ? samples.filter((s) => !s.warmup).map((s) => ({ t: s.t, y: retained(s) }))
    : samples.map((s) => ({ t: s.t, y: s.heapUsed }));

/** memwatch / memwatch-next: a leak when the post-GC heap grew over 5 consecutive GCs. */
export function fiveConsecutive(samples: readonly Sample[], how: Series = 'judged'): boolean {
  const y = series(samples, how).map((p) => p.y);
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
export function fixedSlope(samples: readonly Sample[], how: Series = 'judged'): boolean {
  const m = series(samples, how);
  if (m.length < 2) return false;
  const x = m.map((p) => p.t / 1000);
  const y = m.map((p) => p.y);
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
export function twoThirds(samples: readonly Sample[], how: Series = 'judged'): boolean {
  const y = series(samples, how).map((p) => p.y);
  if (y.length < 3) return false;
  let grew = 0;
  for (let i = 1; i < y.length; i++) if (y[i]! > y[i - 1]!) grew++;
  return grew >= ((y.length - 1) * 2) / 3;
}
