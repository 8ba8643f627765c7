// Single-flight work shared by callers that may leave. Each flight's work gets an AbortSignal of
// its own, aborted when the last caller waiting for it has left, so abandoned work (an origin
// fetch holding a shared admission slot, a wait for a transform slot) stops at once; while one
// caller still waits, the work goes on for it.

export interface Flights<T> {
  /** Whether a flight for `key` is running and may be joined. */
  has(key: string): boolean;
  /**
   * Joins the flight for `key`, starting `work` when there is none. Resolves with its result, or
   * rejects with the abort reason of `signal` as soon as this caller leaves. A caller without a
   * signal never leaves. An already aborted signal starts nothing.
   */
  join(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Settles when every flight started so far (abandoned ones included) has. */
  settled(): Promise<void>;
}

interface Flight<T> {
  controller: AbortController;
  callers: Set<{ resolve: (v: T) => void; reject: (e: unknown) => void }>;
}

/** `unclaimed` receives a result that arrives after every caller has left (e.g. to free it). */
export function createFlights<T>(unclaimed?: (value: T) => void): Flights<T> {
  const flights = new Map<string, Flight<T>>();
  const running = new Set<Promise<unknown>>();

  const start = (key: string, work: (signal: AbortSignal) => Promise<T>): Flight<T> => {
    const flight: Flight<T> = { controller: new AbortController(), callers: new Set() };
    flights.set(key, flight);
    const settle = (deliver: (c: { resolve: (v: T) => void; reject: (e: unknown) => void }) => void, orphan: () => void): void => {
      if (flights.get(key) === flight) flights.delete(key);
      const callers = [...flight.callers];
      flight.callers.clear();
      if (!callers.length) orphan();
      for (const c of callers) deliver(c);
    };
    let started: Promise<T>;
    try {
      started = work(flight.controller.signal);
    } catch (err) {
      started = Promise.reject(err);
    }
    const done = started.then(
      (value) =>
        settle(
          (c) => c.resolve(value),
          () => unclaimed?.(value),
        ),
      (err: unknown) =>
        settle(
          (c) => c.reject(err),
          () => {},
        ),
    );
    running.add(done);
    void done.finally(() => running.delete(done));
    return flight;
  };

  return {
    has: (key) => flights.has(key),
    join(key, work, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      const flight = flights.get(key) ?? start(key, work);
      return new Promise<T>((resolve, reject) => {
        const caller = {
          resolve: (v: T) => {
            signal?.removeEventListener('abort', leave);
            resolve(v);
          },
          reject: (e: unknown) => {
            signal?.removeEventListener('abort', leave);
            reject(e);
          },
        };
        function leave(): void {
          flight.callers.delete(caller);
          if (flight.callers.size === 0) {
            // Nobody waits any more: a new caller starts afresh instead of joining doomed work.
            if (flights.get(key) === flight) flights.delete(key);
            flight.controller.abort(signal!.reason);
          }
          reject(signal!.reason);
        }
        flight.callers.add(caller);
        signal?.addEventListener('abort', leave, { once: true });
      });
    },
    async settled() {
      while (running.size) await Promise.allSettled([...running]);
    },
  };
}
