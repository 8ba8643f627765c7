// Admission control shared by the proxy and image routes: a concurrency limit, a per-client
// limit, a bounded FIFO queue with a timeout, the memory circuit breaker, and shedding of the
// largest in-flight responses under critical pressure. Rejections are pre-built errors (no stack
// capture per request) so refusing work stays cheap during a flood.
import { HeadroomError, type ErrorCode } from '../errors.js';
import type { PressureSource } from '../monitor/types.js';
import type { Admission, AdmissionStats, Release } from './types.js';
import { createMemoryBreaker } from './memory-breaker.js';
import { resolveAdmissionOptions } from './options.js';

/**
 * Defaults and bounds are the gateway's (docs/configuration.md); the library-only ones are in
 * options.ts. Bad values throw HEADROOM_CONFIG_INVALID naming the option.
 */
export interface AdmissionOptions {
  /** Upstream requests in flight at once (MAX_CONCURRENT_CONNECTIONS in the gateway). */
  maxConcurrent?: number;
  /** Slots, in flight or queued, one client may hold; 0 = no limit (MAX_CONCURRENT_PER_CLIENT). Applies to callers that name the client. */
  maxPerClient?: number;
  /** Requests that may wait for a slot, 0 = no queue (PROXY_QUEUE_SIZE). */
  queueSize?: number;
  /** Longest wait in the queue, ms (PROXY_QUEUE_TIMEOUT). */
  queueTimeout?: number;
  /** Breaker threshold, percent (1–100) of the V8 heap limit (MEMORY_THRESHOLD_PERCENT). */
  memoryThresholdPercent?: number;
  /** The breaker closes below threshold minus this many points. */
  hysteresisPercent?: number;
  /** Heap sampling period of the breaker, ms. */
  sampleInterval?: number;
  /** Critical → breaker open and shedding. */
  monitor?: PressureSource;
  /** Seconds sent in Retry-After. */
  retryAfter?: number;
  /** Share of tracked in-flight responses shed when the monitor turns critical. */
  shedFraction?: number;
  /** Test hook: heap used percent. */
  heapPercent?: () => number;
}

/** An in-flight response that may be aborted under critical pressure; `bytes` is kept current. */
export interface Sheddable {
  bytes: number;
  shed(): void;
}

export interface HeadroomAdmission extends Admission {
  /**
   * Synchronous fast path: a release function when a slot is free now, else the rejection (queueing
   * is up to the caller via acquire()). `client` (an address) is held to maxPerClient.
   */
  tryAcquire(client?: string): Release | HeadroomError | undefined;
  /**
   * Callback form of acquire() for hot paths (no promise, no AbortSignal): waits in the queue and
   * calls exactly one of the callbacks unless the returned cancel function runs first.
   */
  enqueue(onReady: (release: Release) => void, onReject: (err: HeadroomError) => void, client?: string): () => void;
  /** Registers a response for shedding; returns the unregister function. */
  track(entry: Sheddable): () => void;
  /** Registers a response for shedding without allocating an unregister function (hot path); pair with untrack(). */
  add(entry: Sheddable): void;
  untrack(entry: Sheddable): void;
  /** Aborts the largest tracked responses now; returns how many. */
  shed(fraction?: number): number;
  breakerOpen(): boolean;
  [Symbol.asyncDispose](): Promise<void>;
}

const noop = (): void => {};

interface Waiter {
  resolve: (r: Release) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
  /** Counted against maxPerClient from the queue on; undefined when not counted. */
  client: string | undefined;
}

export function createAdmission(options: AdmissionOptions = {}): HeadroomAdmission {
  const o = resolveAdmissionOptions(options);
  const { maxConcurrent, maxPerClient, queueSize, queueTimeout } = o;
  const retryHeaders = { 'retry-after': String(o.retryAfter) };
  const rejection = (code: ErrorCode, message: string): HeadroomError => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new HeadroomError(code, message, { headers: retryHeaders });
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
  const memoryError = rejection('HEADROOM_MEMORY_PRESSURE', 'memory circuit breaker is open; retry later');
  const overloadError = rejection('HEADROOM_OVERLOADED', 'too many requests in flight and the queue is full; retry later');
  const queueTimeoutError = rejection('HEADROOM_QUEUE_TIMEOUT', `waited ${queueTimeout} ms for an upstream slot; retry later`);
  const drainingError = rejection('HEADROOM_DRAINING', 'shutting down; retry on another instance');
  const clientError = rejection(
    'HEADROOM_CLIENT_LIMIT',
    `this client already holds ${maxPerClient} upstream requests, in flight or queued (maxPerClient, MAX_CONCURRENT_PER_CLIENT); retry later`,
  );

  let inFlight = 0;
  let closing: Promise<void> | undefined;
  let shedCount = 0;
  const rejected = { concurrency: 0, queueTimeout: 0, memory: 0, draining: 0, client: 0 };
  const queue: Waiter[] = [];
  const tracked = new Set<Sheddable>();
  // Slots held per client, in flight or queued; a client leaves the map when it holds none, so the
  // map is never larger than in-flight plus queued.
  const held = new Map<string, number>();
  const hold = (client: string): void => void held.set(client, (held.get(client) ?? 0) + 1);
  const unhold = (client: string | undefined): void => {
    if (client === undefined) return;
    const n = held.get(client)! - 1;
    if (n > 0) held.set(client, n);
    else held.delete(client);
  };

  const shed = (fraction = o.shedFraction): number => {
    if (tracked.size === 0) return 0;
    const victims = [...tracked].sort((a, b) => b.bytes - a.bytes).slice(0, Math.max(1, Math.ceil(tracked.size * fraction)));
    for (const v of victims) {
      tracked.delete(v);
      shedCount++;
      v.shed();
    }
    return victims.length;
  };

  const breaker = createMemoryBreaker({
    thresholdPercent: o.memoryThresholdPercent,
    hysteresisPercent: o.hysteresisPercent,
    sampleInterval: o.sampleInterval,
    monitor: o.monitor,
    heapPercent: o.heapPercent,
    onCritical: () => shed(),
  });

  const makeRelease = (client: string | undefined): Release => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      inFlight--;
      unhold(client);
      next();
    };
  };

  // Hands a freed slot to the oldest live waiter.
  const next = (): void => {
    while (queue.length > 0 && inFlight < maxConcurrent) {
      const w = queue[0]!;
      settle(w);
      inFlight++;
      w.resolve(makeRelease(w.client));
    }
  };

  const settle = (w: Waiter): void => {
    w.settled = true;
    const i = queue.indexOf(w);
    if (i >= 0) queue.splice(i, 1);
    if (w.timer) clearTimeout(w.timer);
    if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
  };

  /** A waiter that leaves the queue without a slot (timed out, aborted, cancelled, closed). */
  const giveUp = (w: Waiter): void => {
    settle(w);
    unhold(w.client);
  };

  // The client to count, or undefined when clients are not limited or the caller named none.
  const counted = (client: string | undefined): string | undefined => (maxPerClient > 0 ? client : undefined);

  const tryAcquire = (client?: string): Release | HeadroomError | undefined => {
    if (closing) {
      rejected.draining++;
      return drainingError;
    }
    if (breaker.isOpen()) {
      rejected.memory++;
      return memoryError;
    }
    const c = counted(client);
    if (c !== undefined && (held.get(c) ?? 0) >= maxPerClient) {
      rejected.client++;
      return clientError;
    }
    if (inFlight < maxConcurrent && queue.length === 0) {
      inFlight++;
      if (c !== undefined) hold(c);
      return makeRelease(c);
    }
    if (queue.length >= queueSize) {
      rejected.concurrency++;
      return overloadError;
    }
    return undefined;
  };

  const wait = (
    resolve: (r: Release) => void,
    reject: (e: Error) => void,
    signal: AbortSignal | undefined,
    client: string | undefined,
  ): Waiter => {
    const c = counted(client);
    const w: Waiter = { resolve, reject, timer: undefined, signal, onAbort: undefined, settled: false, client: c };
    if (c !== undefined) hold(c);
    w.timer = setTimeout(() => {
      giveUp(w);
      rejected.queueTimeout++;
      reject(queueTimeoutError);
    }, queueTimeout); // not unref'd: a waiter is real pending work; close() clears it
    queue.push(w);
    return w;
  };

  const enqueue = (onReady: (release: Release) => void, onReject: (err: HeadroomError) => void, client?: string): (() => void) => {
    const r = tryAcquire(client);
    if (typeof r === 'function') {
      onReady(r);
      return noop;
    }
    if (r) {
      onReject(r);
      return noop;
    }
    const w = wait(onReady, onReject as (e: Error) => void, undefined, client);
    return () => {
      if (!w.settled) giveUp(w);
    };
  };

  const acquire = (opts?: { signal?: AbortSignal; client?: string }): Promise<Release> => {
    const r = tryAcquire(opts?.client);
    if (typeof r === 'function') return Promise.resolve(r);
    if (r) return Promise.reject(r);
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Release>((resolve, reject) => {
      const w = wait(resolve, reject, signal, opts?.client);
      if (signal) {
        w.onAbort = () => {
          giveUp(w);
          reject(signal.reason);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
    });
  };

  // Every call returns the same promise.
  const close = (): Promise<void> => {
    if (closing) return closing;
    closing = Promise.resolve();
    breaker.close();
    for (const w of [...queue]) {
      giveUp(w);
      rejected.draining++;
      w.reject(drainingError);
    }
    return closing;
  };

  return {
    acquire,
    tryAcquire,
    enqueue,
    track: (entry) => {
      tracked.add(entry);
      return () => void tracked.delete(entry);
    },
    add: (entry) => void tracked.add(entry),
    untrack: (entry) => void tracked.delete(entry),
    shed,
    breakerOpen: () => breaker.isOpen(),
    stats: (): AdmissionStats & { heapUsedPercent: number; thresholdPercent: number } => ({
      inFlight,
      queued: queue.length,
      maxConcurrent,
      maxPerClient,
      clients: held.size,
      queueSize,
      breakerOpen: breaker.isOpen(),
      rejected: { ...rejected },
      shed: shedCount,
      heapUsedPercent: breaker.heapPercent(),
      thresholdPercent: o.memoryThresholdPercent,
    }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
