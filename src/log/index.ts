// headroom-memory/log: bounded log shipping. createLogShipper returns a pino destination that
// ships to Elasticsearch/OpenSearch `_bulk`, Loki push or a JSON-lines endpoint with one byte cap
// over everything that waits (queue, request in flight, retries), a drop policy, a circuit breaker
// and counters that always add up (produced = sent + dropped + pending). See docs/logging.md.
export { createLogShipper } from './shipper.js';
export { logShipSpecs, resolveLogShipperOptions, LOG_SHIP_FORMATS } from './options.js';
export {
  DROP_REASONS,
  SINK_STATES,
  REQUEST_OUTCOMES,
  type DropReason,
  type LogShipFormat,
  type LogShipper,
  type LogShipperOptions,
  type LogShipStats,
  type SpillStats,
  type RequestOutcome,
  type SinkState,
} from './types.js';
export { registerLogShipMetrics } from '../metrics/log.js';
export * from '../errors-entry.js';
export { guardTransport, type GuardedTransport, type GuardedTransportStats, type TransportStream } from './transport-guard.js';
export type { LogTransportOptions } from './transport.js';
// Capped request/response body capture; the adapters wire it (docs/logging.md#capped-body-capture).
export {
  createBodyCapture,
  captureSpecs,
  type BodyCapture,
  type BodyCaptureOptions,
  type BodyCaptureStats,
  type CaptureRecord,
  type CapturedBody,
  type CaptureLogger,
} from './capture.js';
export {
  createRequestAccounting,
  accountingSpecs,
  type RequestAccounting,
  type RequestAccountingOptions,
  type RequestLedger,
  type RequestSummary,
  type RouteSummary,
} from './accounting.js';
export { registerRequestAccountingMetrics } from '../metrics/accounting.js';
// Per-route attribution of the rest of the heap (docs/logging.md#per-route-heap-attribution).
export {
  createRouteHeapAttribution,
  routeHeapSpecs,
  type RouteHandler,
  type RouteHeapAttribution,
  type RouteHeapOptions,
  type RouteHeapReport,
  type RouteHeapRow,
} from './route-heap.js';
