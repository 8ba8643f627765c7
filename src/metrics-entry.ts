// headroom-memory/metrics: the Prometheus registration of each part, for an app that keeps its own
// prom-client Registry. Each register*() adds that part's headroom_* series (bounded label sets,
// read at scrape time); exposition() renders a registry as the gateway's /metrics does (NaN spelled
// as the text format wants it). The files stay in src/server/metrics, where the gateway uses them.
export { registerMonitorMetrics } from './server/metrics/monitor.js';
export { registerCacheMetrics } from './server/metrics/cache.js';
export { registerProxyMetrics } from './server/metrics/proxy.js';
export { registerImageMetrics } from './server/metrics/image.js';
export { exposition } from './server/metrics/exposition.js';
