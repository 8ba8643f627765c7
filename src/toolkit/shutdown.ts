// Graceful stop for an app on a Node HTTP server (Express, NestJS, a custom Next.js server): on
// SIGTERM readiness turns 503, new requests are refused, in-flight ones finish (up to `timeout`),
// then the server, the app and headroom close. It never calls process.exit: once everything is
// closed the process ends by itself with code 0, which also proves no handle was left open.
import type { Server } from 'node:http';
import type { Headroom } from './headroom.js';

/** Longest wait, after the last tracked request, for responses still being written (ms). */
const FLUSH_GRACE = 1000;

export interface ShutdownOptions {
  headroom: Pick<Headroom, 'drain' | 'idle' | 'close'>;
  /** The HTTP server to stop accepting on. */
  server?: Server;
  /** Closes the app's own resources (e.g. `() => app.close()` for NestJS or Fastify). */
  close?: () => Promise<unknown> | unknown;
  /** Default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[];
  /** Longest wait for in-flight requests, ms (default 10 s); then their connections are closed. */
  timeout?: number;
  /** Wait this long with readiness 503 before refusing, so load balancers notice (ms, default 0). */
  delay?: number;
  /** Told about each step and about errors while closing. */
  log?: (message: string, error?: unknown) => void;
}

export interface Shutdown {
  /** Runs the stop now (what a signal does); resolves when everything is closed. Idempotent. */
  (): Promise<void>;
  /** Removes the signal listeners without stopping. */
  uninstall(): void;
}

export function gracefulShutdown(options: ShutdownOptions): Shutdown {
  const { headroom, server } = options;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const timeout = options.timeout ?? 10_000;
  const log = options.log ?? (() => undefined);
  let running: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (running ??= (async () => {
      uninstall();
      headroom.drain();
      log('shutting down: readiness is 503, waiting for in-flight requests');
      if (options.delay) await new Promise((resolve) => setTimeout(resolve, options.delay).unref());
      let serverClosed = !server;
      const closed = server
        ? new Promise<void>((resolve) => server.close(() => resolve())).then(() => void (serverClosed = true))
        : Promise.resolve();
      server?.closeIdleConnections();
      if (!(await headroom.idle(timeout))) log(`in-flight requests still running after ${timeout} ms: closing their connections`);
      else if (server) {
        // A request counts as done once its handler's answer is read to the end, which can be a
        // moment before the framework has written the last bytes (Next.js writes the chunked
        // terminator after the body stream ends): close connections as they turn idle, for up to
        // FLUSH_GRACE ms, before cutting the rest.
        for (const until = performance.now() + FLUSH_GRACE; !serverClosed && performance.now() < until;) {
          server.closeIdleConnections();
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      server?.closeAllConnections();
      await closed;
      try {
        await options.close?.();
      } catch (err) {
        log('error while closing the app', err);
      }
      await headroom.close();
      log('shutdown complete');
    })());
  const onSignal = (): void => void stop();
  for (const s of signals) process.on(s, onSignal);
  function uninstall(): void {
    for (const s of signals) process.off(s, onSignal);
  }
  return Object.assign(stop, { uninstall });
}
