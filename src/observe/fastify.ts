// Request ids and observation for the gateway's Fastify routes (image, health, metrics, admin):
// Fastify makes the id (genReqId, so request.log lines carry it as reqId), a hook returns it as
// X-Request-Id and hands the request to the observer for its access log line and metrics.
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyInstance } from 'fastify';
import { REQUEST_ID_HEADER, requestIdFrom } from './request-id.js';
import type { RequestObserver } from './request-observer.js';
import { UNMATCHED_ROUTE } from './request-metrics.js';
import { outcomeOfXCache } from '../cache/cache-status.js';

/**
 * Fastify server options for request ids. Fastify's own requestIdHeader would take any value the
 * client sends; genReqId validates it instead. Fastify's two lines per request are replaced by
 * the access log's one.
 */
export function fastifyRequestIdOptions() {
  return {
    genReqId: (req: IncomingMessage): string => requestIdFrom(req.headers[REQUEST_ID_HEADER]),
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'reqId', disableRequestLogging: true }),
  } as const;
}

/** Returns the id on every response and observes every request (register on the root instance, first). */
export function observeFastifyRequests(app: FastifyInstance, observer: RequestObserver): void {
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    // A route template or, for 404s and 405s, one fixed label: never the raw URL.
    observer.begin(request.raw, reply.raw, request.id, request.routeOptions.url ?? UNMATCHED_ROUTE);
    done();
  });
  // Fastify writes its headers at writeHead, so the cache outcome (X-Cache) is read as it sends.
  app.addHook('onSend', (_request, reply, payload, done) => {
    const cache = outcomeOfXCache(reply.getHeader('x-cache'));
    if (cache) observer.cacheOutcome(reply.raw, cache);
    done(null, payload);
  });
}
