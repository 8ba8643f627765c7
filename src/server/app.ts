// Assembles the Fastify app from parts that already exist. It creates no part itself (that is
// gateway.ts), so tests can build an app around parts they control.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { TrustProxy } from '../config/options.js';
import type { MemoryMonitor } from '../monitor/types.js';
import type { Cache } from '../cache/types.js';
import { HeadroomError } from '../errors.js';
import { authorityProblem, droppedHeaderLines, hostFromTarget, hostProblem, originForm } from '../proxy/headers.js';
import { declaresBody } from '../proxy/respond.js';
import { continueOnRead } from '../toolkit/continue.js';
import { boundUnread } from '../proxy/respond.js';
import { createClientErrorHandler, refuseUnservable } from './client-error.js';
import { registerCompression } from './compress.js';
import { installErrorHandlers } from './error-handler.js';
import { withRequestSerializer } from './logger.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { adminRoutes } from './routes/admin.js';
import { fastifyRequestIdOptions, observeFastifyRequests } from '../observe/fastify.js';
import type { RequestObserver } from '../observe/request-observer.js';
import type { RequestAccounting } from '../log/accounting.js';
import { accountRequests } from '../adapters/fastify/accounting.js';

export type RouteRegistrar = (app: FastifyInstance) => Promise<void> | void;

export interface AppOptions {
  config: Config;
  logger: Logger;
  monitor: MemoryMonitor;
  cache?: Cache;
  registry: Registry;
  isDraining: () => boolean;
  /** Routes of parts (proxy, image) registered at the root, outside the compressed scope. */
  routes?: RouteRegistrar[];
  /** Admin routes of parts, registered under /admin after rate limiting and auth. */
  adminRoutes?: RouteRegistrar[];
  /** Access log and request metrics for every request Fastify routes. */
  observer?: RequestObserver;
  /** REQUEST_ACCOUNTING: a ledger for every request Fastify routes (the raw proxy path opens its own). */
  accounting?: RequestAccounting;
}

// A hop count means "the n proxies nearest to us"; Fastify takes that as a function of the hop.
function trustedProxies(trust: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust !== 'number') return trust;
  return (_address, hop) => hop < trust;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  // Requests refused before any route: counted in the request metrics with route "rejected".
  const rejected = options.observer && ((status: number) => options.observer!.rejected(status));
  const app = Fastify({
    // Request URLs are logged with credentials hidden, whichever pino logger was passed in.
    loggerInstance: withRequestSerializer(options.logger) as FastifyBaseLogger,
    bodyLimit: config.server.bodyLimit,
    trustProxy: trustedProxies(config.server.trustProxy),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    clientErrorHandler: createClientErrorHandler(rejected),
    // Node would answer a Host-less HTTP/1.1 request itself, a bare 400 without the error format or
    // a request id: the gateway refuses it (hostProblem), on its routes and the proxy's raw path.
    http: { requireHostHeader: false },
    ...fastifyRequestIdOptions(),
  });
  // Expect: 100-continue is answered only when a body is read, not before the request is judged.
  const stopContinue = continueOnRead(app.server);
  const stopRefusing = refuseUnservable(app.server, rejected);
  app.addHook('onClose', (_instance, done) => {
    stopContinue();
    stopRefusing();
    done();
  });
  if (options.observer) observeFastifyRequests(app, options.observer);
  if (options.accounting) await app.register(accountRequests, { accounting: options.accounting });
  installErrorHandlers(app);
  // None of the gateway's own routes (health, metrics, admin, image, dashboard, 404) reads a request
  // body; the proxy streams its own on the raw server. So a body sent to them is never read: an
  // unauthenticated client cannot make the gateway buffer it, nor hold a request open by stalling
  // it. The answer goes out at once with Connection: close, and Node discards what follows.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  // RFC 9112 §3.2 for the gateway's own routes (the proxy checks Host itself on its raw path). An
  // absolute-form target (http://host/health; the proxy's raw path takes only origin-form, so the
  // proxy's own absolute-form requests come this way too) is routed by its path: from here on the
  // request carries that path alone, once the host it names is the Host header's.
  const stallMs = config.proxy.clientReadTimeout;
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    // A pipelined request follows an answer whose stall bound (below) is still on the socket: the
    // wait for this one's answer is not the client's doing. (Node has already taken off its
    // keep-alive timeout, and the gateway sets no server timeout: any bound here is one of ours.)
    if (raw.socket?.timeout) raw.socket.setTimeout(0);
    if (declaresBody(raw)) reply.header('connection', 'close');
    const dropped = droppedHeaderLines(raw);
    if (dropped) return done(new HeadroomError('HEADROOM_HEADERS_TOO_LARGE', dropped));
    const url = raw.url ?? '/';
    const problem = hostProblem(raw.rawHeaders, raw.httpVersion) ?? authorityProblem(url, raw.rawHeaders);
    if (!problem && url.charCodeAt(0) !== 47 /* / */) {
      hostFromTarget(raw, url);
      raw.url = originForm(url);
    }
    done(problem ? new HeadroomError('HEADROOM_BAD_REQUEST', `${problem} (RFC 9112 §3.2)`) : undefined);
  });
  // A buffered answer (the metrics page, a JSON report) is all in memory: when it sits unwritten,
  // only a client that does not read holds it, with its connection and its Buffer. The socket is
  // closed once it makes no progress for CLIENT_READ_TIMEOUT, as the proxy cuts a stalled reader,
  // unless the route set its own bound (an image: its clientReadTimeout, the same value); after the
  // answer, Node's keep-alive timeout replaces it. Streams (the dashboard feed, a passed-through
  // original) watch their own stalls.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if ((typeof payload === 'string' || Buffer.isBuffer(payload)) && !reply.raw.socket?.timeout) boundUnread(reply.raw, stallMs);
    done(null, payload);
  });

  // The gateway's own JSON endpoints, compressed per COMPRESSION_* (proxied bodies are never
  // recompressed: they stream through untouched).
  await app.register(async (own) => {
    if (config.server.compressionEnabled) {
      registerCompression(own, { threshold: config.server.compressionThreshold, level: config.server.compressionLevel });
    }
    await own.register(healthRoutes, { monitor: options.monitor, isDraining: options.isDraining });
    await own.register(metricsRoutes, { registry: options.registry, token: config.server.metricsToken });
    await own.register(adminRoutes, {
      prefix: '/admin',
      token: config.server.adminToken,
      rateLimit: config.server.adminRateLimit,
      monitor: options.monitor,
      cache: options.cache,
      extra: options.adminRoutes ?? [],
    });
  });

  for (const register of options.routes ?? []) await app.register(async (scope) => register(scope));
  return app;
}
