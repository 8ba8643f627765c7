// One rule for shares of memory, everywhere (options, reports, logs, metrics): a name ending in
// Percent (or _PERCENT) is 0–100, a name ending in Ratio (or Prometheus' _ratio) is 0–1.
// Thresholds named without a unit (warningThreshold, MEMORY_WARNING_THRESHOLD, …, the names the
// field uses) take either form: a number up to 1 is a fraction (0.75), above 1 a percent (75),
// so one percent is written 1% in configuration.

/** The fraction meant by a share given as a fraction (≤ 1) or a percent (> 1); undefined if not a number ≥ 0. */
export function shareToFraction(n: unknown): number | undefined {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return undefined;
  return n <= 1 ? n : n / 100;
}

/** A fraction as a percent, without float noise (0.07 → 7, not 7.000000000000001). */
export const toPercent = (fraction: number): number => Math.round(fraction * 100 * 1e6) / 1e6;
