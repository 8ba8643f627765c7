// Capped body capture and request memory accounting, as the Express, Fastify and NestJS entries
// export them beside their own middleware (docs/logging.md#capped-body-capture,
// docs/logging.md#request-memory-accounting).
export { createBodyCapture, type BodyCapture, type BodyCaptureOptions, type CaptureRecord, type CapturedBody } from './log/capture.js';
export {
  createRequestAccounting,
  type RequestAccounting,
  type RequestAccountingOptions,
  type RequestSummary,
  type RouteSummary,
} from './log/accounting.js';
export { registerRequestAccountingMetrics } from './metrics/accounting.js';
export {
  createRouteHeapAttribution,
  routeHeapSpecs,
  type RouteHandler,
  type RouteHeapAttribution,
  type RouteHeapOptions,
  type RouteHeapReport,
  type RouteHeapRow,
} from './log/route-heap.js';
