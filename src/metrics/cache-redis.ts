// headroom_cache_redis_* metrics: the bounds the Redis store puts around every call (redis-gate.ts),
// so an operator sees a Redis that is slow (timed out) or a backlog (refused, pending near the cap)
// before users do. Absent (no series) without a Redis L2. Labels are bounded: result only.
import type { CacheStats } from '../cache/types.js';
import { byLabel, type PartMetrics } from './define.js';

const gate = (s: CacheStats): NonNullable<NonNullable<CacheStats['l2']>['redis']> | undefined => s.l2?.redis;

export function registerCacheRedisMetrics(m: PartMetrics<CacheStats>): void {
  m.labelled(
    'counter',
    'headroom_cache_redis_calls_failed_total',
    'Redis calls answered without Redis: refused (CACHE_REDIS_MAX_PENDING calls already in flight) or timed_out (no answer within CACHE_REDIS_COMMAND_TIMEOUT). Each was served from L1 or as a miss.',
    ['result'],
    (s) => {
      const g = gate(s);
      return g ? byLabel('result', { refused: g.refused, timed_out: g.timedOut }) : [];
    },
  );
  // Separate gauges, not one with a kind label: summing "now", "peak" and "cap" would mean nothing.
  m.labelled('gauge', 'headroom_cache_redis_pending', 'Redis calls (or commands the client holds) in flight now.', [], (s) => {
    const g = gate(s);
    return g ? [[{}, g.pending]] : [];
  });
  m.labelled(
    'gauge',
    'headroom_cache_redis_pending_peak',
    'The most Redis calls (or commands the client held) in flight at once since start.',
    [],
    (s) => {
      const g = gate(s);
      return g ? [[{}, g.pendingPeak]] : [];
    },
  );
  m.labelled('gauge', 'headroom_cache_redis_max_pending', 'The cap on Redis calls in flight (CACHE_REDIS_MAX_PENDING).', [], (s) => {
    const g = gate(s);
    return g ? [[{}, g.maxPending]] : [];
  });
  m.labelled(
    'gauge',
    'headroom_cache_redis_wait_peak_seconds',
    'The longest any Redis call waited for its answer or its deadline since start, seconds (at most CACHE_REDIS_COMMAND_TIMEOUT plus event-loop delay).',
    [],
    (s) => {
      const g = gate(s);
      return g ? [[{}, g.waitPeakMs / 1000]] : [];
    },
  );
}
