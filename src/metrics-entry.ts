// headroom-memory/metrics: the Prometheus registration of each part, for an app that keeps its own
// prom-client Registry. Each register*() adds that part's headroom_* series (bounded label sets,
// read at scrape time); registerProcessMetrics() the Node.js process metrics (prom-client's defaults
// but the two that leave a timer or observer running); createMetricsRegistry() adds all of them at
// once to a registry; exposition() renders a registry as the gateway's /metrics does (NaN
// spelled as the text format wants it). The gateway and the adapters use the same files (src/metrics).
export { registerMonitorMetrics } from './metrics/monitor.js';
export { registerProcessMetrics } from './metrics/process.js';
export { registerCacheMetrics } from './metrics/cache.js';
export { registerProxyMetrics } from './metrics/proxy.js';
export { registerImageMetrics } from './metrics/image.js';
export { registerLogShipMetrics } from './metrics/log.js';
export { registerDashboardMetrics } from './metrics/dashboard.js';
export { exposition } from './metrics/exposition.js';
export { createMetricsRegistry, type AppRequestStats, type MetricsParts } from './toolkit/metrics.js';
