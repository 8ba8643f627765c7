// Types for prom-client's default-metric modules, which process.ts loads by path (all but the
// event-loop-lag one). Each registers its metrics into a registry, as collectDefaultMetrics does.
declare module 'prom-client/lib/metrics/*.js' {
  import type { DefaultMetricsCollectorConfiguration, Registry } from 'prom-client';
  const register: (registry: Registry, config?: DefaultMetricsCollectorConfiguration<'text/plain; version=0.0.4; charset=utf-8'>) => void;
  export default register;
}
