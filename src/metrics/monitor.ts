// headroom_* metrics of the memory monitor. Every value is read at scrape time (collect()) from
// the monitor's latest sample, once per scrape, so scraping costs no extra sampling.
// headroom_memory_status is one numeric gauge (0 healthy, 1 warning, 2 critical) rather than a
// labelled state set: alerts read `headroom_memory_status >= 2` and the series count stays 1.
// Values not known yet (no major GC, too few points for a trend) are exported as NaN, not 0.
import type { Registry } from 'prom-client';
import type { MemoryMonitor, MemoryStatus } from '../monitor/types.js';
import { checkMetricsArgs, partMetrics, type Samples } from './define.js';

const STATUS_VALUE: Record<MemoryStatus, number> = { healthy: 0, warning: 1, critical: 2 };

export function registerMonitorMetrics(
  registry: Registry,
  monitor: Pick<MemoryMonitor, 'current' | 'gc' | 'trend' | 'eventLoopDelay'>,
): void {
  checkMetricsArgs('registerMonitorMetrics(registry, monitor)', registry, {
    name: 'monitor',
    value: monitor,
    methods: ['current', 'gc', 'trend', 'eventLoopDelay'],
    from: 'a memory monitor from createMemoryMonitor()',
  });
  const m = partMetrics(registry, () => ({
    sample: monitor.current(),
    gc: monitor.gc(),
    trend: monitor.trend(),
    eventLoop: monitor.eventLoopDelay(),
  }));

  m.gauge('headroom_heap_size_limit_bytes', 'V8 heap size limit (heap_size_limit), bytes.', (s) => s.sample.v8.heapSizeLimit);
  m.gauge(
    'headroom_heap_used_ratio',
    'V8 used heap size as a fraction of the heap size limit, 0..1.',
    (s) => s.sample.v8.usedHeapSize / s.sample.v8.heapSizeLimit,
  );
  m.gauge('headroom_memory_status', 'Memory status: 0 healthy, 1 warning, 2 critical.', (s) => STATUS_VALUE[s.sample.status]);
  m.gauge(
    'headroom_detached_contexts',
    'V8 detached contexts (a steadily non-zero value suggests a leak).',
    (s) => s.sample.v8.numberOfDetachedContexts,
  );
  m.gauge(
    'headroom_rss_used_ratio',
    'RSS as a fraction of the RSS limit (MEMORY_RSS_LIMIT or cgroup memory.max), 0..1; NaN without a limit.',
    (s) => (s.sample.rssPercent === null ? null : s.sample.rssPercent / 100),
  );
  // The limit itself, so a dashboard can draw RSS (process_resident_memory_bytes) against it.
  m.gauge(
    'headroom_rss_limit_bytes',
    'RSS limit (MEMORY_RSS_LIMIT or cgroup memory.max), bytes; NaN without a limit.',
    (s) => s.sample.rssLimit,
  );
  m.gauge(
    'headroom_heap_after_gc_bytes',
    'Heap used right after the most recent major GC, bytes; NaN before the first.',
    (s) => s.gc.lastHeapAfterGc,
  );
  // Prometheus wants base units: bytes per second (the /health trend keeps bytes per hour).
  m.gauge(
    'headroom_heap_growth_bytes_per_second',
    'Least-squares slope of the post-GC heap over the trend window (leak trend), bytes per second; NaN until enough points.',
    (s) => (s.trend.bytesPerHour === null ? null : s.trend.bytesPerHour / 3600),
  );
  m.gauge(
    'headroom_event_loop_utilization_ratio',
    'Share of time the event loop was busy between the last two samples, 0..1.',
    (s) => s.sample.eventLoop.utilizationPercent / 100,
  );
  // Every tick since start, so any window can be asked for (histogram_quantile over rate(…[5m])),
  // unlike a gauge of the last sample interval.
  m.histogram(
    'headroom_event_loop_delay_seconds',
    "How late the monitor's 50 ms event-loop timer fired, seconds: the time a callback waits for the loop.",
    (s) => ({
      bounds: s.eventLoop.boundsSeconds,
      cumulative: s.eventLoop.cumulative,
      sum: s.eventLoop.sumSeconds,
      count: s.eventLoop.count,
    }),
  );

  m.counter('headroom_gc_major_runs_total', 'Major (mark-compact) GCs since the monitor started.', (s) => s.gc.majorGcs);

  // Pauses only with MEMORY_GC_PAUSES (gcPauses): a family of zeros would read as a process that never paused.
  if (monitor.gc().byKind === null) return;
  // Totals since the monitor started, republished from the monitor's own cumulative numbers.
  const byKind = (s: { gc: ReturnType<MemoryMonitor['gc']> }, pick: (k: { count: number; totalMs: number }) => number): Samples =>
    Object.entries(s.gc.byKind ?? {}).map(([kind, k]) => [{ kind }, pick(k)] as const);
  m.labelled(
    'counter',
    'headroom_gc_pause_seconds_total',
    'Total GC pause time by kind (minor, major, incremental, weakcb), seconds.',
    ['kind'],
    (s) => byKind(s, (k) => k.totalMs / 1000),
  );
  m.labelled('counter', 'headroom_gc_runs_total', 'GC runs by kind (minor, major, incremental, weakcb).', ['kind'], (s) =>
    byKind(s, (k) => k.count),
  );
}
