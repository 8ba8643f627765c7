// processBatch and chunkArray: work over a (possibly huge, possibly async) sequence with a bound on
// what is in flight. Items are pulled from the source only when a slot is free, so a lazy source is
// never read ahead; results come back in input order.
import { checkInt } from './check.js';

export type Source<T> = Iterable<T> | AsyncIterable<T>;

/** Refuses what is not a source, without starting to iterate it (a stream's iterator attaches to it). */
function checkSource<T>(fn: string, items: Source<T>): void {
  const it = items as Partial<AsyncIterable<T> & Iterable<T>> | null | undefined;
  if (it != null && (typeof it[Symbol.asyncIterator] === 'function' || typeof it[Symbol.iterator] === 'function')) return;
  throw new TypeError(`${fn}: items must be an iterable or an async iterable, got ${items === null ? 'null' : typeof items}`);
}

function iterate<T>(fn: string, items: Source<T>): AsyncIterator<T> | Iterator<T> {
  checkSource(fn, items);
  const asyncIterable = items as AsyncIterable<T>;
  if (typeof asyncIterable[Symbol.asyncIterator] === 'function') return asyncIterable[Symbol.asyncIterator]();
  return (items as Iterable<T>)[Symbol.iterator]();
}

export interface ProcessBatchOptions {
  /** Calls of `fn` running at once; default 8, 1 to 10,000. */
  concurrency?: number;
}

/**
 * Calls `fn(item, index)` for every item with at most `concurrency` calls at once and resolves with
 * the results in input order. The first failure rejects (no new calls start; running ones finish)
 * once the source is closed (its return(): a generator's finally runs, a file or cursor is let go).
 */
export async function processBatch<T, R>(
  items: Source<T>,
  fn: (item: T, index: number) => R | Promise<R>,
  options: ProcessBatchOptions = {},
): Promise<R[]> {
  const concurrency = checkInt('processBatch', 'concurrency', options.concurrency, 8, 1, 10_000);
  if (typeof fn !== 'function') throw new TypeError('processBatch: fn must be a function');
  const it = iterate('processBatch', items);
  const results: R[] = [];
  let next = 0;
  let failed = false;
  // Each worker pulls the next item when it is free; the iterator is shared, so reads are serialised.
  async function worker(): Promise<void> {
    while (!failed) {
      const r = await it.next();
      if (r.done) return;
      const index = next++;
      try {
        results[index] = await fn(r.value, index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }
  const done = await Promise.allSettled(Array.from({ length: concurrency }, worker));
  const failure = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
  if (failure) {
    // Left before its end: the source is told so, as a for-await loop would tell it.
    await it.return?.();
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
