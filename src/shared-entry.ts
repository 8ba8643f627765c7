// The names every adapter entry (fastify, express, next, nestjs) and the toolkit entry export, in
// one block: the error registry (HeadroomError, isHeadroomError, ERRORS, statusOf, isErrorCode) and
// the Prometheus registration (createMetricsRegistry, register*Metrics, exposition). An entry adds
// `export * from '…/shared-entry.js'`; test/package/exports.test.ts walks package.json's exports
// (import and require) and checks every entry has them.
export * from './errors-entry.js';
export * from './metrics-entry.js';
