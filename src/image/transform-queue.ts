// Bounded queue in front of sharp: at most `concurrency` transforms run, at most `queueSize` wait
// (longer waits than `queueTimeout` give up), and a transform is admitted only when its estimated
// decode size fits the memory budget and the current headroom. FIFO: a large waiting job is not
// overtaken by small ones (it would starve otherwise).
import { HeadroomError } from '../errors.js';

export interface TransformQueueOptions {
  concurrency: number;
  queueSize: number;
  queueTimeout: number;
  /** Sum of estimated decode bytes allowed in flight. */
  memoryBudget: number;
  /** Bytes of memory headroom right now (e.g. RSS limit − RSS); undefined = unknown. */
  headroom?: () => number | undefined;
  /** True while memory is critical: nothing new is admitted. */
  critical?: () => boolean;
}

export interface QueueStats {
  active: number;
  queued: number;
  concurrency: number;
  queueSize: number;
  reservedBytes: number;
  memoryBudget: number;
}

interface Waiter {
  estimate: number;
  start: () => void;
  fail: (err: unknown) => void;
}

export interface TransformQueue {
  run<T>(estimate: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  stats(): QueueStats;
  close(): void;
}

export function createTransformQueue(o: TransformQueueOptions): TransformQueue {
  let active = 0;
  let reserved = 0;
  let closed = false;
  const waiting: Waiter[] = [];
  const retryAfter = { 'retry-after': String(Math.max(1, Math.ceil(o.queueTimeout / 1000))) };
  const pressure = (message: string): HeadroomError => new HeadroomError('HEADROOM_MEMORY_PRESSURE', message, { headers: retryAfter });

  const fits = (estimate: number): boolean => {
    if (active >= o.concurrency || reserved + estimate > o.memoryBudget) return false;
    const room = o.headroom?.();
    return room === undefined || estimate <= room - reserved;
  };

  const pump = (): void => {
    while (waiting.length && fits(waiting[0]!.estimate)) waiting.shift()!.start();
    // Nothing running and the head still does not fit: waiting cannot help it.
    if (active === 0 && waiting.length) waiting.shift()!.fail(pressure('not enough memory headroom to decode this image now'));
  };

  async function execute<T>(estimate: number, fn: () => Promise<T>): Promise<T> {
    active++;
    reserved += estimate;
    try {
      return await fn();
    } finally {
      active--;
      reserved -= estimate;
      pump();
    }
  }

  return {
    run<T>(estimate: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (closed) return Promise.reject(new HeadroomError('HEADROOM_DRAINING', 'the image service is closed'));
      if (o.critical?.()) return Promise.reject(pressure('memory is critical; transforms are paused'));
      if (estimate > o.memoryBudget) return Promise.reject(pressure(`decoding this image needs about ${estimate} bytes, more than the transform memory budget (${o.memoryBudget})`));
      if (!waiting.length && fits(estimate)) return execute(estimate, fn);
      if (active === 0) return Promise.reject(pressure('not enough memory headroom to decode this image now'));
      if (waiting.length >= o.queueSize) {
        return Promise.reject(new HeadroomError('HEADROOM_OVERLOADED', 'image transform queue is full (IMAGE_QUEUE_SIZE)', { headers: retryAfter }));
      }
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = waiting.indexOf(waiter);
          if (i >= 0) waiting.splice(i, 1);
        };
        const waiter: Waiter = {
          estimate,
          start: () => {
            done();
            execute(estimate, fn).then(resolve, reject);
          },
          fail: (err) => {
            done();
            reject(err);
          },
        };
        const timer = setTimeout(() => waiter.fail(new HeadroomError('HEADROOM_QUEUE_TIMEOUT', 'waited too long for an image transform slot (IMAGE_QUEUE_TIMEOUT)', { headers: retryAfter })), o.queueTimeout);
        timer.unref();
        const onAbort = (): void => waiter.fail(signal!.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.push(waiter);
      });
    },
    stats: () => ({ active, queued: waiting.length, concurrency: o.concurrency, queueSize: o.queueSize, reservedBytes: reserved, memoryBudget: o.memoryBudget }),
    close() {
      closed = true;
      for (const w of [...waiting]) w.fail(new HeadroomError('HEADROOM_DRAINING', 'the image service is closing'));
    },
  };
}
