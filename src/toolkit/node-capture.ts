// The capped body capture (src/log/capture.ts) and request accounting (src/log/accounting.ts) as
// (req, res, next) middleware: Express, Connect and NestJS (app.use on either platform) all take
// them. Mount first, before body parsers.
import type { RequestAccounting } from '../log/accounting.js';
import type { BodyCapture } from '../log/capture.js';
import type { NodeMiddleware, NodeRequest } from './node-middleware.js';
import { HeadroomError } from '../errors.js';

const invalid = (message: string): HeadroomError => new HeadroomError('HEADROOM_CONFIG_INVALID', message);

function checked(capture: BodyCapture | undefined, call: string): void {
  if (capture !== undefined && (!capture || typeof capture.tap !== 'function'))
    throw invalid(`${call}: capture must be made by createBodyCapture({ logger }) or createBodyCapture({ onCapture })`);
}

export function captureMiddleware(capture: BodyCapture): NodeMiddleware {
  checked(capture, 'captureMiddleware(capture)');
  if (!capture) throw invalid('captureMiddleware(capture): capture is required (createBodyCapture({ logger }))');
  return (req, res, next) => {
    capture.tap(req, res);
    next();
  };
}

/** Express's route template once routed (`/users/:id`, mount path included); 'unmatched' otherwise. */
export function routeOf(req: NodeRequest & { route?: { path?: unknown } }): string {
  const path = req.route?.path;
  return typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : 'unmatched';
}

/**
 * Opens a ledger for each request and runs the rest of the app inside it (so any part can
 * `accounting.charge(n)`), charges the captured bodies when `capture` is given, and ends the
 * ledger — releasing whatever it still holds — when the response closes, aborted or not.
 * `route` (optional) names the request's route when the Express template is not known (the NestJS
 * module passes the handler its interceptor saw).
 */
export function accountingMiddleware(
  accounting: RequestAccounting,
  capture?: BodyCapture,
  route?: (req: NodeRequest) => string | undefined,
): NodeMiddleware {
  if (!accounting || typeof accounting.open !== 'function')
    throw invalid('accountingMiddleware(accounting): accounting must be made by createRequestAccounting()');
  checked(capture, 'accountingMiddleware(accounting, capture)');
  return (req, res, next) => {
    const ledger = accounting.open();
    capture?.tap(req, res, (delta) => ledger.charge(delta));
    res.once('close', () => ledger.end(route?.(req) ?? routeOf(req)));
    accounting.run(ledger, next);
  };
}
