// Node.js process metrics (process_cpu_*, process_resident_memory_bytes, nodejs_heap_*, open fds,
// handles, version …): prom-client's default metrics, except two that start something nothing can
// stop, so it outlives close(), one more per registry: the event-loop lag (nodejs_eventloop_lag_*,
// a monitorEventLoopDelay timer every 10 ms: 100 wake-ups a second, also in an idle process) and
// the GC histogram (nodejs_gc_duration_seconds, a PerformanceObserver). The monitor's own probes
// export the same facts: headroom_event_loop_delay_seconds (a 50 ms timer) and, with
// MEMORY_GC_PAUSES, headroom_gc_pause_seconds_total / headroom_gc_runs_total (metrics/monitor.ts). An app that wants
// prom-client's full set calls collectDefaultMetrics on the registry first; headroom then adds
// none of these. process_cpu_* are registered by process-cpu.ts, the same metrics without the
// exemplar support that makes prom-client's module load @opentelemetry/api.
import type { Registry } from 'prom-client';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import { registerProcessCpu } from './process-cpu.js';
import { checkMetricsArgs } from './define.js';

/** prom-client's default metrics by its own names (collectDefaultMetrics.metricsList), without eventLoopLag and gc; processCpuTotal is headroom's. */
export const PROCESS_METRIC_MODULES = {
  processCpuTotal: registerProcessCpu,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
};

/** The metric that tells a registry already has default metrics (headroom's or the app's own). */
const MARKER = 'process_cpu_user_seconds_total';

/**
 * Registers the process metrics into `registry` unless it already has them (an app that collects
 * prom-client's defaults into its own registry keeps its set). Returns whether it added them.
 */
export function registerProcessMetrics(registry: Registry): boolean {
  checkMetricsArgs('registerProcessMetrics(registry)', registry);
  if (registry.getSingleMetric(MARKER)) return false;
  for (const register of Object.values(PROCESS_METRIC_MODULES)) register(registry, {});
  return true;
}
