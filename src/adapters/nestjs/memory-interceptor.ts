// The NestJS write-up's memory interceptor, on request accounting: for each request it reports the
// duration and the bytes headroom charged to it (peak and total), and warns above the accounting's
// warnBytes. It reads the ledger accountingMiddleware opened (AsyncLocalStorage carries it into
// the interceptor) and reports when the raw response closes, so a streamed body counts in full;
// it does not touch the handler's Observable (no rxjs needed). It also leaves the handler's name on
// the raw request, so the ledger ends under it where no route template is known (platform-fastify).
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { HeadroomError } from '../../errors.js';
import { resolveOptions } from '../../options/spec.js';
import type { RequestAccounting } from '../../log/accounting.js';
import { rawRequest, type AnyRequest } from './raw.js';

export interface RequestMemoryReport {
  /** The controller and handler, e.g. ItemsController.list. */
  handler: string;
  /** From the interceptor to the close of the response, milliseconds. */
  ms: number;
  /** Most bytes held for the request at once. */
  peak: number;
  /** Every byte charged to the request. */
  charged: number;
  /** peak above the accounting's warnBytes. */
  heavy: boolean;
}

const HANDLER = Symbol.for('headroom-memory.nestjs.handler');

/** The controller and handler the interceptor saw for this raw request (ItemsController.list), if any. */
export function handlerOf(req: IncomingMessage): string | undefined {
  return (req as IncomingMessage & { [HANDLER]?: string })[HANDLER];
}

export interface MemoryInterceptorOptions {
  /** A pino-compatible logger: heavy requests go to warn(report, message). */
  logger?: { warn(obj: object, msg?: string): unknown };
  /** Called for every request with its report. */
  onReport?: (report: RequestMemoryReport) => void;
}

export class HeadroomMemoryInterceptor implements NestInterceptor {
  constructor(
    private readonly accounting: RequestAccounting,
    private readonly options: MemoryInterceptorOptions = {},
  ) {
    if (!accounting || typeof accounting.current !== 'function')
      throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'HeadroomMemoryInterceptor: accounting must be made by createRequestAccounting()');
    // Its two options are checked below; anything else (a misspelt onReport) is refused with a "did you mean".
    resolveOptions('HeadroomMemoryInterceptor', {}, options, ['logger', 'onReport']);
    if (options.logger !== undefined && typeof options.logger?.warn !== 'function')
      throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'HeadroomMemoryInterceptor: logger must be a logger (an object with warn())');
    if (options.onReport !== undefined && typeof options.onReport !== 'function')
      throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'HeadroomMemoryInterceptor: onReport must be a function (report) => void');
  }

  intercept(context: ExecutionContext, next: CallHandler): ReturnType<CallHandler['handle']> {
    const ledger = this.accounting.current();
    if (ledger && context.getType() === 'http') {
      const started = performance.now();
      const http = context.switchToHttp();
      const res = http.getResponse<ServerResponse | { raw: ServerResponse }>();
      const raw = 'raw' in res && res.raw ? res.raw : (res as ServerResponse);
      const rawReq = rawRequest(http.getRequest<AnyRequest>());
      const handler = `${context.getClass().name}.${context.getHandler().name}`;
      (rawReq as IncomingMessage & { [HANDLER]?: string })[HANDLER] = handler;
      raw.once('close', () => {
        const report: RequestMemoryReport = {
          handler,
          ms: Math.round((performance.now() - started) * 100) / 100,
          peak: ledger.peak,
          charged: ledger.charged,
          heavy: ledger.peak > this.accounting.warnBytes,
        };
        try {
          this.options.onReport?.(report);
          if (report.heavy) this.options.logger?.warn(report, `${handler} held ${report.peak} bytes (above ${this.accounting.warnBytes})`);
        } catch {
          // a failing logger must not break the response's close
        }
      });
    }
    return next.handle();
  }
}
