// headroom-memory/nestjs: HeadroomModule for NestJS on @nestjs/platform-express or
// @nestjs/platform-fastify. Needs @nestjs/common and @nestjs/core (optional peers); @nestjs/terminus
// is optional (HeadroomHealthIndicator imports nothing from it).
export { HeadroomModule, HEADROOM, type HeadroomModuleOptions, type HeadroomModuleAsyncOptions, type HeadroomRoutes } from './module.js';
export { HeadroomService, type HeadroomStats, type ProxyRequestOptions } from './service.js';
export {
  HeadroomHealthIndicator,
  HeadroomHealthCheckError,
  type HeadroomIndicatorOptions,
  type HeadroomIndicatorDetails,
  type HeadroomIndicatorResult,
} from './health-indicator.js';
export { enableHeadroomShutdown } from './shutdown.js';
export type { AnyRequest, AnyResponse } from './raw.js';
export type { Headroom, HeadroomOptions } from '../../toolkit/headroom.js';
export { HeadroomError } from '../../errors.js';
export * from '../../shared-entry.js';
// Capped request/response body capture (docs/logging.md#capped-body-capture): app.use(captureMiddleware(createBodyCapture({ logger }))).
export { captureMiddleware } from '../../toolkit/node-capture.js';
export * from '../../capture-entry.js';
export { accountingMiddleware } from '../../toolkit/node-capture.js';
export { HeadroomMemoryInterceptor, type MemoryInterceptorOptions, type RequestMemoryReport } from './memory-interceptor.js';
export type { AccountingOption, CaptureOption } from './request-parts.js';
