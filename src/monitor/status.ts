// Status from usage fractions, with hysteresis: going up is immediate, going down needs usage to
// fall `hysteresis` below the threshold of the level being left, so the status does not flap.
import type { MemoryStatus } from './types.js';

export interface StatusThresholds {
  warning: number;
  critical: number;
  hysteresis: number;
}

const RANK: Record<MemoryStatus, number> = { healthy: 0, warning: 1, critical: 2 };

export function statusRank(status: MemoryStatus): number {
  return RANK[status];
}

/** `ratio` is the worst of heap used / heap limit and rss / rss limit (0..1+). */
export function nextStatus(previous: MemoryStatus, ratio: number, t: StatusThresholds): MemoryStatus {
  const raw: MemoryStatus = ratio >= t.critical ? 'critical' : ratio >= t.warning ? 'warning' : 'healthy';
  if (RANK[raw] >= RANK[previous]) return raw;
  if (previous === 'critical' && ratio >= t.critical - t.hysteresis) return 'critical';
  if (ratio >= t.warning - t.hysteresis) return 'warning';
  return 'healthy';
}
