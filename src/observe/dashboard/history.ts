// GET /admin/memory-history: the monitor's history (MEMORY_HISTORY_SIZE samples, one per
// MEMORY_HISTORY_INTERVAL) as columns, the shape a chart takes and a script can zip; ?since=
// (epoch milliseconds) keeps the samples taken after it.
import { HeadroomError } from '../../errors.js';
import type { MemoryMonitor } from '../../monitor/types.js';
import type { MemoryHistory } from './types.js';

/** The `since` query parameter: unset, or one integer of epoch milliseconds. */
export function parseSince(query: URLSearchParams): number {
  const all = query.getAll('since');
  if (all.length === 0) return -Infinity;
  const raw = all[0]!;
  if (all.length > 1 || !/^\d{1,15}$/.test(raw)) {
    throw new HeadroomError(
      'HEADROOM_BAD_REQUEST',
      'query parameter "since" must be given once, as epoch milliseconds (an integer, e.g. since=1700000000000)',
    );
  }
  return Number(raw);
}

export function memoryHistory(monitor: MemoryMonitor, since = -Infinity): MemoryHistory {
  const samples = monitor.history().filter((s) => s.timestamp > since);
  const latest = monitor.current();
  const { warningPercent, criticalPercent } = monitor.thresholds();
  const column = <T>(pick: (s: (typeof samples)[number]) => T): T[] => samples.map(pick);
  return {
    count: samples.length,
    heapLimit: latest.v8.heapSizeLimit,
    rssLimit: latest.rssLimit,
    thresholds: { warningPercent, criticalPercent },
    series: {
      timestamp: column((s) => s.timestamp),
      status: column((s) => s.status),
      heapUsed: column((s) => s.v8.usedHeapSize),
      heapTotal: column((s) => s.v8.totalHeapSize),
      rss: column((s) => s.process.rss),
      external: column((s) => s.process.external),
      arrayBuffers: column((s) => s.process.arrayBuffers),
      eventLoopDelayP99: column((s) => s.eventLoop.delayP99),
      eventLoopUtilization: column((s) => s.eventLoop.utilizationPercent),
    },
  };
}
