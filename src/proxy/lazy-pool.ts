// The proxy's undici Pool, loaded when a proxy is created rather than when this code is imported:
// every adapter imports the proxy's code (createHeadroom can make one), and an app that configures
// no proxy then never loads undici (22 modules, 0.5–0.9 MiB of heap: bench/footprint/adapters.ts).
// A request that arrives before the load has finished (the first milliseconds after createProxy)
// waits for it.
import type { Dispatcher, Pool } from 'undici';

/** The part of a Pool the proxy uses. */
export interface UpstreamPool {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void;
  /** Waits for the requests in flight, then closes the connections. */
  close(): Promise<void>;
  /** Closes the connections now, failing the requests in flight. */
  destroy(): Promise<void>;
}

/** Loads undici's Pool module; a failure is a process warning, reaches each request's handler (onResponseError) and close() settles. */
export function createLazyPool(origin: string, options: Pool.Options): UpstreamPool {
  let pool: Pool | undefined;
  // Pool from its own module, not from undici's index: the index loads all of undici (fetch,
  // WebSocket, cache stores, mocks; ~10 MiB of RSS in an idle gateway, bench/footprint) where the
  // proxy uses this one class. It is the very class the index exports (same file, same module).
  // undici is CommonJS: the class is the default export in the ESM and the CommonJS build.
  const loading: Promise<Pool> = import('undici/lib/dispatcher/pool.js').then((m) => (pool = new m.default(origin, options)));
  // Said once, with the cause (each request that waited for it is answered 502 as an upstream
  // failure), and not left as an unhandled rejection.
  loading.catch((err: unknown) =>
    process.emitWarning(
      `headroom: the proxy to ${origin} cannot load undici's Pool (${String(err)}); its requests fail with 502 until the dependencies are reinstalled (npm ci)`,
      {
        code: 'HEADROOM_PROXY_UNDICI',
      },
    ),
  );
  return {
    dispatch(opts, handler) {
      if (pool) {
        pool.dispatch(opts, handler);
        return;
      }
      loading.then(
        (p) => p.dispatch(opts, handler),
        (err: unknown) => handler.onResponseError?.(null as never, err instanceof Error ? err : new Error(String(err))),
      );
    },
    close: () =>
      loading.then(
        (p) => p.close(),
        () => undefined,
      ),
    destroy: () =>
      loading.then(
        (p) => p.destroy(),
        () => undefined,
      ),
  };
}
