// Bounded queue in front of sharp: at most `concurrency` transforms run, at most `queueSize` wait
// (longer waits than `queueTimeout` give up), and a transform is admitted only when its estimated
// decode size fits the memory budget and the current headroom. FIFO: a large waiting job is not
// overtaken by small ones (it would starve otherwise). The head of the queue may be lent to
// another bounded pool (lend()) when that pool has an idle slot: its memory stays accounted here.
// A job's reservation is also charged to the request that asked for it (request accounting),
// from the moment it is reserved until it is given back. What a waiting job already holds (its
// buffered source) counts against the same budget: running reservations plus waiting sources stay
// within it, or the job is refused rather than queued.
import { HeadroomError } from '../errors.js';
import { currentLedger, withLedger, type RequestLedger } from '../log/accounting.js';

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
  /** Called when a job starts waiting or another becomes the head (a chance to lend() it). Must not throw. */
  onWait?: () => void;
  /** Called when a slot frees and no job is waiting for it (a chance to lend this pool's slot). Must not throw. */
  onIdle?: () => void;
}

export interface QueueStats {
  active: number;
  queued: number;
  concurrency: number;
  queueSize: number;
  reservedBytes: number;
  /** Bytes the waiting jobs hold (their buffered sources). */
  waitingBytes: number;
  memoryBudget: number;
  /** Jobs of this queue running in another pool's slot now (lend()). */
  lent: number;
}

interface Waiter {
  estimate: number;
  /** Bytes the job holds while it waits (part of its estimate). */
  held: number;
  start: () => void;
  fail: (err: unknown) => void;
  /** Set when the job may run outside this queue's slots. */
  lendTo?: (runner: LendRunner) => void;
}

/** Runs a lent job in a slot of its own; rejects if it cannot (the job then fails with that). */
export type LendRunner = (job: () => Promise<void>) => Promise<unknown>;

export interface TransformQueue {
  /**
   * `lendable`: the same job in a form that may run in another pool's slot (see lend()); without
   * it the job only ever runs in one of this queue's slots. `held`: bytes of the estimate the job
   * already holds in memory while it would wait (a buffered source), counted against the budget.
   */
  run<T>(estimate: number, fn: () => Promise<T>, signal?: AbortSignal, lendable?: () => Promise<T>, held?: number): Promise<T>;
  /**
   * Hands the head of the queue to `runner` if it is lendable and its estimate fits the memory
   * budget and headroom (the slot count is the runner's business). Its estimate stays reserved
   * here until it settles. Only the head: FIFO order holds. Returns whether a job was lent.
   */
  lend(runner: LendRunner): boolean;
  stats(): QueueStats;
  close(): void;
}

export function createTransformQueue(o: TransformQueueOptions): TransformQueue {
  let active = 0;
  let lent = 0;
  let reserved = 0;
  let waitingHeld = 0;
  let closed = false;
  const waiting: Waiter[] = [];
  const retryAfter = { 'retry-after': String(Math.max(1, Math.ceil(o.queueTimeout / 1000))) };
  const pressure = (message: string): HeadroomError => new HeadroomError('HEADROOM_MEMORY_PRESSURE', message, { headers: retryAfter });

  // `held` of the estimate is already in memory, among the waiting jobs' bytes (none for a job not queued).
  const memoryFits = (estimate: number, held = 0): boolean => {
    if (reserved + waitingHeld - held + estimate > o.memoryBudget) return false;
    const room = o.headroom?.();
    return room === undefined || estimate - held <= room - reserved;
  };
  const fits = (estimate: number, held?: number): boolean => active < o.concurrency && memoryFits(estimate, held);

  const pump = (): void => {
    const head = waiting[0];
    for (;;) {
      while (waiting.length && fits(waiting[0]!.estimate, waiting[0]!.held)) waiting[0]!.start();
      if (active > 0 || lent > 0 || !waiting.length) break;
      // Nothing running and the head still does not fit: waiting cannot help it. Those behind it
      // may fit, so go on.
      waiting[0]!.fail(pressure('not enough memory headroom to decode this image now'));
    }
    if (waiting.length && waiting[0] !== head) o.onWait?.();
  };

  async function execute<T>(estimate: number, fn: () => Promise<T>, ledger: RequestLedger | undefined): Promise<T> {
    active++;
    reserved += estimate;
    ledger?.charge(estimate);
    try {
      return await fn();
    } finally {
      active--;
      reserved -= estimate;
      ledger?.charge(-estimate);
      pump();
      if (active < o.concurrency && !waiting.length) o.onIdle?.();
    }
  }

  return {
    lend(runner) {
      const head = waiting[0];
      if (!head?.lendTo || !memoryFits(head.estimate, head.held) || o.critical?.()) return false;
      head.lendTo(runner);
      return true;
    },
    run<T>(estimate: number, fn: () => Promise<T>, signal?: AbortSignal, lendable?: () => Promise<T>, held = 0): Promise<T> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      // A NaN estimate would pass every budget check below and leave the reservation NaN for good.
      if (!Number.isFinite(estimate) || estimate < 0)
        return Promise.reject(new TypeError(`transform queue: the memory estimate must be a finite number of bytes ≥ 0, got ${estimate}`));
      if (!Number.isFinite(held) || held < 0 || held > estimate)
        return Promise.reject(
          new TypeError(`transform queue: held bytes must be a finite number from 0 to the estimate (${estimate}), got ${held}`),
        );
      if (closed) return Promise.reject(new HeadroomError('HEADROOM_DRAINING', 'the image service is closed'));
      if (o.critical?.()) return Promise.reject(pressure('memory is critical; transforms are paused'));
      if (estimate > o.memoryBudget)
        return Promise.reject(
          pressure(`decoding this image needs about ${estimate} bytes, more than the transform memory budget (${o.memoryBudget})`),
        );
      // Taken now: a waiter is started from whichever request freed a slot, not from this one.
      const ledger = currentLedger();
      if (!waiting.length && fits(estimate)) return execute(estimate, fn, ledger);
      if (active === 0 && lent === 0) return Promise.reject(pressure('not enough memory headroom to decode this image now'));
      if (waiting.length >= o.queueSize) {
        return Promise.reject(
          new HeadroomError('HEADROOM_OVERLOADED', 'image transform queue is full (IMAGE_QUEUE_SIZE)', { headers: retryAfter }),
        );
      }
      if (reserved + waitingHeld + held > o.memoryBudget) {
        return Promise.reject(
          pressure(
            `the images waiting for a transform already hold ${waitingHeld} bytes and the running ones reserve ${reserved}: ` +
              `this one's ${held} bytes would pass the transform memory budget (${o.memoryBudget})`,
          ),
        );
      }
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = waiting.indexOf(waiter);
          if (i >= 0) {
            waiting.splice(i, 1);
            waitingHeld -= held;
          }
        };
        const waiter: Waiter = {
          estimate,
          held,
          start: () => {
            done();
            withLedger(ledger, () => execute(estimate, fn, ledger)).then(resolve, reject);
          },
          fail: (err) => {
            done();
            reject(err);
          },
        };
        if (lendable) {
          waiter.lendTo = (runner) => {
            done();
            lent++;
            reserved += estimate;
            ledger?.charge(estimate);
            let ran = false;
            const release = (): void => {
              lent--;
              reserved -= estimate;
              ledger?.charge(-estimate);
              pump();
            };
            const job = (): Promise<void> => {
              ran = true;
              return withLedger(ledger, () => Promise.resolve().then(lendable))
                .then(resolve, reject)
                .finally(release);
            };
            let running: Promise<unknown>;
            try {
              running = runner(job);
            } catch (err) {
              running = Promise.reject(err);
            }
            running.catch((err: unknown) => {
              if (ran) return;
              release();
              reject(err);
            });
          };
        }
        // A waiter that leaves may have been the head that held the others back.
        const leave = (err: unknown): void => {
          waiter.fail(err);
          pump();
        };
        const timer = setTimeout(
          () =>
            leave(
              new HeadroomError('HEADROOM_QUEUE_TIMEOUT', 'waited too long for an image transform slot (IMAGE_QUEUE_TIMEOUT)', {
                headers: retryAfter,
              }),
            ),
          o.queueTimeout,
        );
        timer.unref();
        const onAbort = (): void => leave(signal!.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.push(waiter);
        waitingHeld += held;
        o.onWait?.();
      });
    },
    stats: () => ({
      active,
      queued: waiting.length,
      concurrency: o.concurrency,
      queueSize: o.queueSize,
      reservedBytes: reserved,
      waitingBytes: waitingHeld,
      memoryBudget: o.memoryBudget,
      lent,
    }),
    close() {
      closed = true;
      for (const w of [...waiting]) w.fail(new HeadroomError('HEADROOM_DRAINING', 'the image service is closing'));
    },
  };
}

/**
 * Lends `from`'s head jobs to `to` while `to` has a free slot and none of its own jobs waiting
 * (its own work goes first). Wire it as `from`'s onWait and `to`'s onIdle.
 */
export function lendWhileIdle(from: TransformQueue, to: TransformQueue): void {
  for (;;) {
    const t = to.stats();
    if (t.active >= t.concurrency || t.queued > 0) return;
    if (!from.lend((job) => to.run(0, job))) return;
    // to.run() takes its slot synchronously; if it did not, `to` refused the job (closing or
    // critical) and failed it with why: lend no more now.
    if (to.stats().active === t.active) return;
  }
}
