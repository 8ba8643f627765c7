// headroom_* metrics of the memory monitor. Every value is read at scrape time (collect()) from
// the monitor's latest sample, so scraping costs no extra sampling.
// headroom_memory_status is one numeric gauge (0 healthy, 1 warning, 2 critical) rather than a
// labelled state set: alerts read `headroom_memory_status >= 2` and the series count stays 1.
// Values not known yet (no major GC, too few points for a trend) are exported as NaN, not 0.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MemoryMonitor, MemoryStatus } from '../../monitor/types.js';

const STATUS_VALUE: Record<MemoryStatus, number> = { healthy: 0, warning: 1, critical: 2 };

export function registerMonitorMetrics(registry: Registry, monitor: Pick<MemoryMonitor, 'current' | 'gc' | 'trend'>): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number | null): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const v = read();
        this.set(v ?? Number.NaN);
      },
    });
  };

  gauge('headroom_heap_size_limit_bytes', 'V8 heap size limit (heap_size_limit), bytes.', () => monitor.current().v8.heapSizeLimit);
  gauge('headroom_heap_used_ratio', 'V8 used heap size as a fraction of the heap size limit (0..1).', () => {
    const { usedHeapSize, heapSizeLimit } = monitor.current().v8;
    return usedHeapSize / heapSizeLimit;
  });
  gauge('headroom_memory_status', 'Memory status: 0 healthy, 1 warning, 2 critical.', () => STATUS_VALUE[monitor.current().status]);
  gauge('headroom_detached_contexts', 'V8 detached contexts (a steadily non-zero value suggests a leak).', () => monitor.current().v8.numberOfDetachedContexts);
  gauge('headroom_rss_limit_ratio', 'RSS as a fraction of the RSS limit (MEMORY_RSS_LIMIT or cgroup memory.max); NaN without a limit.', () => {
    const s = monitor.current();
    return s.rssPercent === null ? null : s.rssPercent / 100;
  });
  gauge('headroom_heap_after_gc_bytes', 'Heap used right after the most recent major GC, bytes; NaN before the first.', () => monitor.gc().lastHeapAfterGc);
  gauge('headroom_heap_growth_bytes_per_hour', 'Least-squares slope of post-GC heap over the trend window (leak trend); NaN until enough points.', () => monitor.trend().bytesPerHour);
  gauge('headroom_event_loop_utilization', 'Share of time the event loop was busy between the last two samples (0..1).', () => monitor.current().eventLoop.utilization);

  // Totals since the monitor started; reset+inc republishes the monitor's own cumulative numbers.
  new Counter({
    name: 'headroom_gc_pause_seconds_total',
    help: 'Total GC pause time by kind (minor, major, incremental, weakcb), seconds.',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const [kind, s] of Object.entries(monitor.gc().byKind)) this.inc({ kind }, s.totalMs / 1000);
    },
  });
  new Counter({
    name: 'headroom_gc_runs_total',
    help: 'GC runs by kind (minor, major, incremental, weakcb).',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const [kind, s] of Object.entries(monitor.gc().byKind)) this.inc({ kind }, s.count);
    },
  });
}
