// The capped body capture (src/log/capture.ts) as a (req, res, next) middleware: Express, Connect
// and NestJS (app.use on either platform) all take it. Mount it first, before body parsers.
import type { BodyCapture } from '../log/capture.js';
import type { NodeMiddleware } from './node-middleware.js';

export function captureMiddleware(capture: BodyCapture): NodeMiddleware {
  if (!capture || typeof capture.tap !== 'function')
    throw new TypeError(
      'captureMiddleware(capture): capture must be made by createBodyCapture({ logger }) or createBodyCapture({ onCapture })',
    );
  return (req, res, next) => {
    capture.tap(req, res);
    next();
  };
}
