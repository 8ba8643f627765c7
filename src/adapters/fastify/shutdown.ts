// SIGTERM for a Fastify app with the headroom plugin: readiness turns 503 and new app requests are
// answered 503 (Connection: close) while in-flight ones finish, then app.close() (whose onClose
// closes headroom). It never calls process.exit: the process ends by itself once all is closed.
import type {
  FastifyInstance,
  FastifyTypeProvider,
  RawServerBase,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
} from 'fastify';
import { HeadroomError } from '../../errors.js';
import { kindOf, resolveOptions } from '../../options/spec.js';
import { endConnections } from './plugin.js';
import { gracefulShutdown as toolkitShutdown, shutdownSpecs, type Shutdown, type ShutdownOptions } from '../../toolkit/shutdown.js';

export type FastifyShutdownOptions = Omit<ShutdownOptions, 'headroom' | 'server'>;

/**
 * Installs SIGTERM/SIGINT listeners (see `signals`) and returns the stop function. `close` runs
 * after the app has closed (for the app's own resources).
 */
export function gracefulShutdown<S extends RawServerBase, L extends FastifyBaseLogger, T extends FastifyTypeProvider>(
  app: FastifyInstance<S, RawRequestDefaultExpression<S>, RawReplyDefaultExpression<S>, L, T>,
  options: FastifyShutdownOptions = {},
): Shutdown {
  // Any server kind (HTTP/2 too): only headroom, close() and the servers are used.
  const fastify = app as unknown as FastifyInstance;
  if (typeof fastify !== 'object' || fastify === null || typeof fastify.close !== 'function')
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `gracefulShutdown(app): app must be the Fastify instance headroom is registered on; got ${kindOf(app)}`,
    );
  const headroom = (fastify as Partial<FastifyInstance>).headroom;
  if (!headroom) {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      'gracefulShutdown: the headroom plugin has not loaded on this app yet: await its registration (await app.register(headroom, …)) or await app.ready() before calling gracefulShutdown(app)',
    );
  }
  const o = resolveOptions('gracefulShutdown', shutdownSpecs, options);
  return toolkitShutdown({
    ...o,
    headroom,
    close: async () => {
      const closed = fastify.close();
      // Requests still in flight after `timeout`: their connections are closed, not waited for.
      // (HTTP/2 has no closeAllConnections: its sessions are closed, or destroyed.)
      endConnections(fastify, headroom.requests().inFlight > 0);
      await closed;
      await o.close?.();
    },
  });
}
