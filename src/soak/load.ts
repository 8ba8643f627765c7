// The load driver: `connections` workers on one undici Pool, optionally paced to `rate` requests
// per second overall, sending the scenario's requests in their weighted order. It can pause (and
// waits for the requests in flight, for a bounded time: a service that never answers must not hold
// the soak) so the heap is measured at a quiet point, then resume. close() aborts what is in flight.
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { createPicker, type ScenarioRequest } from './scenario.js';
import { LatencyHistogram } from './stats.js';

export interface LoadOptions {
  url: string;
  connections: number;
  /** Requests per second over all connections; 0 = as fast as the service answers. */
  rate: number;
  requests: readonly ScenarioRequest[];
  /** Per-request limit for headers and for each body chunk (ms). */
  timeoutMs?: number;
}

export interface LoadStats {
  requests: number;
  /** Requests that got no complete answer (connection refused or reset, timeout). */
  errors: number;
  /** Answers by status class: { '2xx': n, '5xx': m, … }. */
  statuses: Record<string, number>;
  bytesReceived: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** The last transport error's message, if any. */
  lastError?: string;
}

export interface LoadDriver {
  /** Requests completed so far (answered or failed). */
  readonly completed: number;
  /** Requests sent and not yet answered or failed. */
  readonly inFlight: number;
  /**
   * Stops sending and resolves when no request is in flight, or after `maxWaitMs` (default: no
   * bound) with the rest still in flight.
   */
  pause(maxWaitMs?: number): Promise<void>;
  resume(): void;
  stats(): LoadStats;
  close(): Promise<void>;
}

export function startLoad(options: LoadOptions): LoadDriver {
  const base = new URL(options.url);
  const basePath = base.pathname.replace(/\/$/, '');
  const timeout = options.timeoutMs ?? 30_000;
  const pool = new Pool(base.origin, { connections: options.connections, headersTimeout: timeout, bodyTimeout: timeout });
  const pick = createPicker(options.requests);
  const latency = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  const stop = new AbortController();
  let completed = 0;
  let errors = 0;
  let bytes = 0;
  let lastError: string | undefined;
  let inFlight = 0;
  let paused = false;
  let resumed: { promise: Promise<void>; resolve: () => void } | undefined;
  let drained: (() => void) | undefined;
  const interval = options.rate > 0 ? 1000 / options.rate : 0;
  let nextAt = performance.now();
  /** When the last request went out: a resume keeps the spacing from it (a rate below one request per sample). */
  let lastSentAt = -Infinity;
  /** Bumped by each resume: a send time reserved before a pause is void after it (the schedule restarted). */
  let schedule = 0;

  async function worker(): Promise<void> {
    while (!stop.signal.aborted) {
      if (paused) {
        await resumed?.promise;
        continue;
      }
      if (interval > 0) {
        const now = performance.now();
        const at = Math.max(nextAt, now);
        nextAt = at + interval;
        const reservedIn = schedule;
        if (at > now) await sleep(at - now, undefined, { signal: stop.signal }).catch(() => undefined);
        if (stop.signal.aborted) return;
        // The slot is given up when a pause came meanwhile: the schedule restarted on resume, and
        // sending on both would exceed the rate (by about a request per worker per sample).
        if (paused || reservedIn !== schedule) continue;
      }
      const req = pick();
      inFlight++;
      const t0 = performance.now();
      lastSentAt = t0;
      // Counted once answered or failed; one cut off by close() is neither (the totals add up).
      let counted = false;
      let failed = false;
      try {
        const res = await pool.request({
          path: basePath + req.path,
          method: req.method as 'GET',
          headers: req.headers,
          body: req.body,
          signal: stop.signal,
        });
        for await (const chunk of res.body) bytes += (chunk as Buffer).length;
        const cls = `${Math.floor(res.statusCode / 100)}xx`;
        statuses[cls] = (statuses[cls] ?? 0) + 1;
        counted = true;
        latency.record(performance.now() - t0);
      } catch (err) {
        if (stop.signal.aborted) break;
        errors++;
        counted = failed = true;
        lastError = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
      } finally {
        if (counted) completed++;
        inFlight--;
        if (inFlight === 0) drained?.();
      }
      // A refused connection fails at once: do not spin. (After the count: errors and completed
      // agree whenever stats() is read.)
      if (failed) await sleep(10, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  }

  const workers = Array.from({ length: options.connections }, () => worker());

  return {
    get completed() {
      return completed;
    },
    get inFlight() {
      return inFlight;
    },
    async pause(maxWaitMs = Infinity) {
      if (!paused) {
        paused = true;
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        resumed = { promise, resolve };
      }
      if (inFlight > 0) {
        const drain = new Promise<void>((r) => (drained = r));
        if (Number.isFinite(maxWaitMs)) {
          const bound = new AbortController();
          await Promise.race([drain, sleep(maxWaitMs, undefined, { signal: bound.signal }).catch(() => undefined)]);
          bound.abort(); // the timer goes with it
        } else await drain;
      }
      drained = undefined;
    },
    resume() {
      if (!paused) return;
      paused = false;
      nextAt = Math.max(performance.now(), lastSentAt + interval);
      schedule++;
      resumed?.resolve();
    },
    stats() {
      return {
        requests: completed,
        errors,
        statuses: { ...statuses },
        bytesReceived: bytes,
        latencyMs: {
          mean: latency.mean(),
          p50: latency.quantile(0.5),
          p90: latency.quantile(0.9),
          p99: latency.quantile(0.99),
          max: latency.max,
        },
        ...(lastError === undefined ? {} : { lastError }),
      };
    },
    async close() {
      if (stop.signal.aborted) return;
      stop.abort();
      paused = false;
      resumed?.resolve();
      await Promise.allSettled(workers);
      await pool.destroy();
    },
  };
}
