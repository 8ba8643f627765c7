// SIGTERM for a Fastify app with the headroom plugin: readiness turns 503 and new app requests are
// answered 503 (Connection: close) while in-flight ones finish, then app.close() (whose onClose
// closes headroom). It never calls process.exit: the process ends by itself once all is closed.
import type { FastifyInstance } from 'fastify';
import { HeadroomError } from '../../errors.js';
import { resolveOptions } from '../../options/spec.js';
import { gracefulShutdown as toolkitShutdown, shutdownSpecs, type Shutdown, type ShutdownOptions } from '../../toolkit/shutdown.js';

export type FastifyShutdownOptions = Omit<ShutdownOptions, 'headroom' | 'server'>;

/**
 * Installs SIGTERM/SIGINT listeners (see `signals`) and returns the stop function. `close` runs
 * after the app has closed (for the app's own resources).
 */
export function gracefulShutdown(app: FastifyInstance, options: FastifyShutdownOptions = {}): Shutdown {
  const headroom = (app as Partial<FastifyInstance>).headroom;
  if (!headroom) throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'gracefulShutdown: register the headroom plugin on this app first');
  const o = resolveOptions('gracefulShutdown', shutdownSpecs, options);
  return toolkitShutdown({
    ...o,
    headroom,
    close: async () => {
      const closed = app.close();
      // Requests still in flight after `timeout`: their connections are closed, not waited for.
      if (headroom.requests().inFlight > 0) app.server.closeAllConnections();
      await closed;
      await o.close?.();
    },
  });
}
