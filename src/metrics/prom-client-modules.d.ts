// Types for the prom-client modules headroom loads by path rather than through its index, which
// also loads what headroom never uses (Summary, Pushgateway, the cluster aggregator, and through
// the default metrics' processCpuTotal, @opentelemetry/api): 81 modules and ~1.5 MiB of heap
// against ~0.4 MiB for these. The classes are the index's own (it re-exports these modules).
declare module 'prom-client/lib/registry.js' {
  import { Registry } from 'prom-client';
  export default Registry;
}
declare module 'prom-client/lib/counter.js' {
  import { Counter } from 'prom-client';
  export default Counter;
}
declare module 'prom-client/lib/gauge.js' {
  import { Gauge } from 'prom-client';
  export default Gauge;
}

// The default-metric modules (all but the event-loop-lag, GC and CPU ones: metrics/process.ts).
// Each registers its metrics into a registry, as collectDefaultMetrics does.
declare module 'prom-client/lib/metrics/*.js' {
  import type { DefaultMetricsCollectorConfiguration, Registry } from 'prom-client';
  const register: (registry: Registry, config?: DefaultMetricsCollectorConfiguration<'text/plain; version=0.0.4; charset=utf-8'>) => void;
  export default register;
}
