// The module's `capture` and `accounting` options: the capped body capture and request memory
// accounting, made once for the app and wired globally — their middleware inside headroom's early
// middleware (early.ts) on either platform, the memory interceptor as an APP_INTERCEPTOR, the
// accounting's metrics in headroom's registry — and closed on application shutdown.
import type { NestInterceptor } from '@nestjs/common';
import { HeadroomError } from '../../errors.js';
import { createRequestAccounting, type RequestAccounting, type RequestAccountingOptions } from '../../log/accounting.js';
import { createBodyCapture, type BodyCapture, type BodyCaptureOptions } from '../../log/capture.js';
import { registerRequestAccountingMetrics } from '../../metrics/accounting.js';
import { nestedOptions } from '../../options/spec.js';
import type { Registry } from 'prom-client';
import type { HeadroomOptions } from '../../toolkit/headroom.js';
import { accountingMiddleware, captureMiddleware } from '../../toolkit/node-capture.js';
import { registerRemovably } from '../../toolkit/metrics.js';
import type { NodeMiddleware, NodeRequest } from '../../toolkit/node-middleware.js';
import { handlerOf, HeadroomMemoryInterceptor, type MemoryInterceptorOptions } from './memory-interceptor.js';

/** true: capture with the defaults, logged to the module's `logger`; or createBodyCapture's options. */
export type CaptureOption = boolean | BodyCaptureOptions;
/** true: account with the defaults; or createRequestAccounting's options plus the interceptor's onReport. */
export type AccountingOption = boolean | (RequestAccountingOptions & Pick<MemoryInterceptorOptions, 'onReport'>);

export interface RequestPartsOptions {
  capture?: CaptureOption;
  accounting?: AccountingOption;
  logger?: HeadroomOptions['logger'];
}

export interface RequestParts {
  readonly capture: BodyCapture | undefined;
  readonly accounting: RequestAccounting | undefined;
  /** What early.ts runs for the app's requests; undefined when both options are off. */
  readonly middleware: NodeMiddleware | undefined;
  /** With accounting: the memory interceptor. */
  readonly interceptor: NestInterceptor | undefined;
  /** Adds the accounting's metrics to headroom's registry (made after these parts, which fail first on bad options). */
  registerMetrics(registry: Registry): void;
  onApplicationShutdown(): Promise<void>;
}

const LABEL = 'HeadroomModule';

/** The option as an options object, undefined when off; anything but a boolean or an object is refused. */
function given<T extends object>(value: unknown, key: string, what: string): T | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {} as T;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as T;
  throw new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `${LABEL}: ${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)} is not accepted: must be true, false or ${what}`,
  );
}

// Where Nest does not route through a template (platform-fastify), the handler the interceptor saw.
const nestRoute = (req: NodeRequest & { route?: { path?: unknown } }): string | undefined =>
  typeof req.route?.path === 'string' ? undefined : handlerOf(req);

export function createRequestParts(options: RequestPartsOptions, parent: object): RequestParts {
  const logger = options.logger;
  let capture: BodyCapture | undefined;
  let accounting: RequestAccounting | undefined;
  try {
    const captureGiven = given<BodyCaptureOptions>(
      options.capture,
      'capture',
      "createBodyCapture's options ({ maxBytes, textTypes, logger or onCapture })",
    );
    if (captureGiven) {
      if (captureGiven.logger !== undefined && captureGiven.onCapture !== undefined)
        throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${LABEL}: give capture.logger or capture.onCapture, not both`);
      const to = captureGiven.logger === undefined && captureGiven.onCapture === undefined ? logger : undefined;
      if (captureGiven.logger === undefined && captureGiven.onCapture === undefined && !to)
        throw new HeadroomError(
          'HEADROOM_CONFIG_INVALID',
          `${LABEL}: capture needs somewhere to log each request: set the module's \`logger\` (a pino logger), capture.logger or capture.onCapture`,
        );
      capture = createBodyCapture(nestedOptions(to ? { ...captureGiven, logger: to } : captureGiven, LABEL, parent, 'capture'));
    }
    const accountingGiven = given<Exclude<AccountingOption, boolean>>(
      options.accounting,
      'accounting',
      "createRequestAccounting's options ({ warnBytes, maxRoutes, onHeavy, onReport })",
    );
    let interceptor: NestInterceptor | undefined;
    if (accountingGiven) {
      const { onReport, ...accountingOptions } = accountingGiven;
      accounting = createRequestAccounting(nestedOptions(accountingOptions, LABEL, parent, 'accounting'));
      interceptor = new HeadroomMemoryInterceptor(accounting, { logger, onReport });
    }
    const middleware = accounting ? accountingMiddleware(accounting, capture, nestRoute) : capture ? captureMiddleware(capture) : undefined;
    let closing: Promise<void> | undefined;
    let unregister: (() => void) | undefined;
    return {
      capture,
      accounting,
      middleware,
      interceptor,
      registerMetrics(registry) {
        // Taken out again at shutdown: the registry may be the app's, and outlive this module.
        if (accounting) unregister = registerRemovably(registry, () => registerRequestAccountingMetrics(registry, accounting!));
      },
      onApplicationShutdown: () =>
        (closing ??= (async () => {
          unregister?.();
          await capture?.close();
          await accounting?.close();
        })()),
    };
  } catch (err) {
    void capture?.close();
    throw err;
  }
}
