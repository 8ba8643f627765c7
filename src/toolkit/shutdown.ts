// Graceful stop for an app on a Node HTTP server (Express, NestJS, a custom Next.js server): on
// SIGTERM readiness turns 503 (requests are still served for `delay`, while load balancers notice),
// then new requests are refused, in-flight ones finish (up to `timeout`), and the server, the app
// and headroom close. It never calls process.exit: once everything is
// closed the process ends by itself with code 0, which also proves no handle was left open.
import type { Server } from 'node:http';
import { constants } from 'node:os';
import { duration, list, optionalFunction, optionalObject, requireOption, resolveOptions, type OptionSpec } from '../options/spec.js';
import type { Headroom } from './headroom.js';

/** Longest wait, after the last tracked request, for responses still being written (ms). */
const FLUSH_GRACE = 1000;

export interface ShutdownOptions {
  /** `unready` (readiness 503 while still serving, for `delay`) is optional: without it the delay refuses too. */
  headroom: Pick<Headroom, 'drain' | 'idle' | 'close'> & Partial<Pick<Headroom, 'unready' | 'abortInFlight'>>;
  /** The HTTP server to stop accepting on. */
  server?: Server;
  /** Closes the app's own resources (e.g. `() => app.close()` for NestJS or Fastify). */
  close?: () => Promise<unknown> | unknown;
  /** Default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[];
  /** Longest wait for in-flight requests, ms (default 10 s); then their connections are closed. */
  timeout?: number;
  /** Serve this long with readiness 503 before refusing, so load balancers stop sending first (ms, default 0). */
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

// Signals a process can listen for (SIGKILL and SIGSTOP cannot be caught).
const SIGNAL = new RegExp(
  `^(?:${Object.keys(constants.signals)
    .filter((s) => s !== 'SIGKILL' && s !== 'SIGSTOP')
    .join('|')})$`,
);

/** The options a user gives every form of the graceful stop (the adapters add headroom and server). */
export const shutdownSpecs = {
  signals: list({
    doc: 'Signals that start the stop.',
    default: ['SIGTERM', 'SIGINT'],
    item: SIGNAL,
    itemText: 'signal names such as SIGTERM (not SIGKILL or SIGSTOP)',
    maxItems: 16,
  }) as OptionSpec<NodeJS.Signals[]>, // each item matched SIGNAL
  timeout: duration({ doc: 'Longest wait for in-flight requests.', default: 10_000, min: 0, max: 3_600_000 }),
  delay: duration({ doc: 'Serve this long with readiness 503 before refusing.', default: 0, min: 0, max: 600_000 }),
  close: optionalFunction<() => Promise<unknown> | unknown>({ doc: "Closes the app's own resources.", what: 'closing the app' }),
  log: optionalFunction<(message: string, error?: unknown) => void>({
    doc: 'Told about each step.',
    what: 'called with a message and an error',
  }),
};

const innerSpecs = {
  ...shutdownSpecs,
  headroom: optionalObject<ShutdownOptions['headroom']>({
    doc: 'The headroom to drain.',
    what: 'a Headroom',
    methods: ['drain', 'idle', 'close'],
  }),
  server: optionalObject<Server>({
    doc: 'The HTTP server.',
    what: 'a Node HTTP server',
    methods: ['close', 'closeIdleConnections', 'closeAllConnections'],
  }),
};

/**
 * `name` is what the user called (an adapter's hr.shutdown(), enableHeadroomShutdown()), for the
 * message when an option is bad: one HEADROOM_CONFIG_INVALID, before any signal listener is added.
 */
export function gracefulShutdown(options: ShutdownOptions, name = 'gracefulShutdown'): Shutdown {
  const o = resolveOptions(name, innerSpecs, options);
  const headroom = requireOption(name, 'headroom', innerSpecs.headroom, o.headroom);
  const { server, signals, timeout } = o;
  const log = o.log ?? (() => undefined);
  let running: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (running ??= (async () => {
      uninstall();
      if (o.delay) {
        // Load balancers still send for a while after readiness turns: those requests are served.
        if (headroom.unready) headroom.unready();
        else headroom.drain();
        log(`shutting down: readiness is 503, serving for ${o.delay} ms more while load balancers notice`);
        await new Promise((resolve) => setTimeout(resolve, o.delay).unref());
      }
      headroom.drain();
      log('shutting down: readiness is 503, new requests are refused, waiting for in-flight requests');
      let serverClosed = !server;
      const closed = server
        ? new Promise<void>((resolve) => server.close(() => resolve())).then(() => void (serverClosed = true))
        : Promise.resolve();
      server?.closeIdleConnections();
      if (!(await headroom.idle(timeout))) {
        log(`in-flight requests still running after ${timeout} ms: ${server ? 'closing their connections' : 'closing the app'}`);
        // Proxied ones still waiting for their upstream get 503 HEADROOM_DRAINING first, not a cut connection.
        await headroom.abortInFlight?.();
      } else if (server) {
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
        await o.close?.();
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
