// headroom-memory/monitor: the memory monitor as a library.
export { createMemoryMonitor } from './monitor.js';
export { monitorSpecs } from './options.js';
export { nextStatus } from './status.js';
export { leastSquaresSlope } from './trend.js';
export { formatBytes } from './report.js';
export type * from './types.js';
export { registerMonitorMetrics } from '../metrics/monitor.js';
export * from '../errors-entry.js';
