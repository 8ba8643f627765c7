// Graceful stop of a Nest app on SIGTERM/SIGINT that ends the process with code 0: readiness turns
// 503, new requests are refused, in-flight ones finish, then app.close() (which runs the modules'
// shutdown hooks, closes the server and headroom). Use it INSTEAD of app.enableShutdownHooks(),
// which ends the process by re-sending the signal to itself (exit code 143).
import type { INestApplicationContext } from '@nestjs/common';
import { resolveOptions } from '../../options/spec.js';
import { gracefulShutdown, shutdownSpecs, type Shutdown, type ShutdownOptions } from '../../toolkit/shutdown.js';
import { HeadroomService } from './service.js';

export function enableHeadroomShutdown(
  app: INestApplicationContext,
  options: Omit<ShutdownOptions, 'headroom' | 'close' | 'server'> = {},
): Shutdown {
  // Checked before the app is asked for anything: the app's own close() is the one closer.
  const { close: _appCloses, ...specs } = shutdownSpecs;
  const o = resolveOptions('enableHeadroomShutdown', specs, options);
  const service = app.get(HeadroomService);
  // One wait for the in-flight requests: this one (the module's drainTimeout unless `timeout` is
  // given); the module's shutdown hook then only starts the proxy's close (its closeTimeout).
  const timeout = options.timeout === undefined ? service.drainTimeoutMs : o.timeout;
  // Whether that wait saw every request finish: if not, the hook closes the stuck requests'
  // connections (Nest's server close would wait for them for ever).
  let idle = true;
  const { headroom } = service;
  const drain: ShutdownOptions['headroom'] = {
    unready: () => headroom.unready(),
    drain: () => headroom.drain(),
    idle: async (ms) => (idle = await headroom.idle(ms)),
    abortInFlight: () => headroom.abortInFlight(),
    close: () => headroom.close(),
  };
  const close = (): Promise<void> => {
    service.drainedByShutdown(idle);
    return app.close();
  };
  return gracefulShutdown({ ...o, timeout, headroom: drain, close }, 'enableHeadroomShutdown');
}
