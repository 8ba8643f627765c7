// processBatch and chunkArray: work over a (possibly huge, possibly async) sequence with a bound on
// what is in flight. Items are pulled from the source only when a slot is free, so a lazy source is
// never read ahead; results come back in input order.
import { checkFunction, checkInt, checkOptions, shown } from './check.js';

export type Source<T> = Iterable<T> | AsyncIterable<T>;

/** Refuses what is not a source, without starting to iterate it (a stream's iterator attaches to it). */
function checkSource<T>(fn: string, items: Source<T>): void {
  const it = items as Partial<AsyncIterable<T> & Iterable<T>> | null | undefined;
  if (it != null && (typeof it[Symbol.asyncIterator] === 'function' || typeof it[Symbol.iterator] === 'function')) return;
  throw new TypeError(`${fn}: items must be an iterable or an async iterable, got ${shown(items)}`);
}

/** The source's iterator (checked by checkSource first). */
function iterate<T>(items: Source<T>): AsyncIterator<T> | Iterator<T> {
  const asyncIterable = items as AsyncIterable<T>;
  if (typeof asyncIterable[Symbol.asyncIterator] === 'function') return asyncIterable[Symbol.asyncIterator]();
  return (items as Iterable<T>)[Symbol.iterator]();
}

export interface ProcessBatchOptions {
  /** Calls of `fn` running at once; default 8, 1 to 10,000. */
  concurrency?: number;
  /**
   * Aborting it rejects the batch at once with the signal's reason: no new call starts and no new
   * item is pulled, the source is told to return(), and calls already running are not waited for
   * (pass the signal to them to stop them too).
   */
  signal?: AbortSignal;
}

/**
 * Calls `fn(item, index)` for every item with at most `concurrency` calls at once and resolves with
 * the results in input order. The first failure rejects (no new calls start and no new pull; running
 * ones finish) once the source is closed (its return(): a generator's finally runs, a file or cursor
 * is let go). An item whose pull was already under way when the failure came is dropped unprocessed.
 * An aborted `signal` is such a failure, and rejects without waiting for a pull or call under way.
 */
export async function processBatch<T, R>(
  items: Source<T>,
  fn: (item: T, index: number) => R | Promise<R>,
  options: ProcessBatchOptions = {},
): Promise<R[]> {
  checkOptions('processBatch', options, ['concurrency', 'signal']);
  const concurrency = checkInt('processBatch', 'concurrency', options.concurrency, 8, 1, 10_000);
  checkFunction('processBatch', 'fn', fn);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError(`processBatch: signal must be an AbortSignal or undefined, got ${shown(signal)}`);
  checkSource('processBatch', items);
  // Aborted before it starts: the source is not touched (a stream's iterator would attach to it).
  if (signal?.aborted) throw signal.reason;
  const it = iterate(items);
  const results: R[] = [];
  let next = 0;
  let failed = false;
  let failure: { reason: unknown } | undefined; // the first failure in time (not in worker order)
  let exhausted = false;
  // A source that broke (its next() threw, or gave no result object) is not told to return(),
  // as for…of would not tell it: only one left early by a failing call is.
  let sourceBroke = false;
  // One pull at a time: a worker waits for the pull before its own, then looks at `failed` again, so
  // once a call has failed no pull starts (only one begun before the failure can still complete).
  let pulling: Promise<void> = Promise.resolve();
  async function pull(): Promise<IteratorResult<T> | undefined> {
    const before = pulling;
    let done!: () => void;
    pulling = new Promise<void>((resolve) => (done = resolve));
    try {
      await before;
      if (failed || exhausted) return undefined;
      let r: IteratorResult<T>;
      try {
        r = await it.next();
        // What for…of refuses: a next() that gives no object would otherwise read as an endless source.
        if (r === null || typeof r !== 'object')
          throw new TypeError(
            `processBatch: the iterator's next() must return an object ({ value, done }), got ${r === null ? 'null' : typeof r}`,
          );
      } catch (err) {
        sourceBroke = true;
        throw err;
      }
      if (r.done) exhausted = true;
      return r;
    } finally {
      done();
    }
  }
  // Each worker pulls the next item when it is free.
  async function worker(): Promise<void> {
    try {
      for (;;) {
        const r = await pull();
        // A failure while this item was being pulled: it is dropped, no call starts after the failure.
        if (r === undefined || r.done || failed) return;
        const index = next++;
        results[index] = await fn(r.value, index);
      }
    } catch (err) {
      failed = true;
      failure ??= { reason: err };
    }
  }
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  let abortedNow = false;
  let onAbort: (() => void) | undefined;
  try {
    if (signal) {
      const aborted = new Promise<void>((resolve) => {
        onAbort = () => {
          abortedNow = true;
          failed = true;
          failure ??= { reason: signal.reason };
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([workers, aborted]);
    } else {
      await workers;
    }
  } finally {
    if (onAbort) signal!.removeEventListener('abort', onAbort);
  }
  if (failure) {
    // Left before its end: the source is told so, as a for-await loop would tell it; a return()
    // that fails does not hide the failure that ended the batch. After an abort a pull may still be
    // under way (an async generator queues return() behind it): told, not waited for.
    if (!sourceBroke && !exhausted) {
      if (abortedNow) {
        Promise.resolve()
          .then(() => it.return?.())
          .catch(() => {});
      } else {
        try {
          await it.return?.();
        } catch {
          // the batch's own failure is the one to report
        }
      }
    }
    throw failure.reason;
  }
  return results;
}

/** Yields arrays of `size` items (the last may be shorter) from an iterable or async iterable; `size` is required. */
export function chunkArray<T>(items: Source<T>, size: number): AsyncGenerator<T[], void, undefined> {
  // Checked at the call, not at the first next() (a generator's body runs only then).
  if (size === undefined) throw new TypeError('chunkArray: size is required: an integer from 1 to 1000000 (items per chunk)');
  const n = checkInt('chunkArray', 'size', size, 0, 1, 1_000_000);
  checkSource('chunkArray', items);
  return chunks(items, n);
}

async function* chunks<T>(items: Source<T>, n: number): AsyncGenerator<T[], void, undefined> {
  let chunk: T[] = [];
  for await (const item of items as AsyncIterable<T>) {
    chunk.push(item);
    if (chunk.length === n) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
