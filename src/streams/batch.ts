// processBatch and chunkArray: work over a (possibly huge, possibly async) sequence with a bound on
// what is in flight. Items are pulled from the source only when a slot is free, so a lazy source is
// never read ahead; results come back in input order.
import { checkInt } from './check.js';

export type Source<T> = Iterable<T> | AsyncIterable<T>;

function iterate<T>(items: Source<T>): AsyncIterator<T> | Iterator<T> {
  if (items != null && typeof (items as AsyncIterable<T>)[Symbol.asyncIterator] === 'function')
    return (items as AsyncIterable<T>)[Symbol.asyncIterator]();
  if (items != null && typeof (items as Iterable<T>)[Symbol.iterator] === 'function') return (items as Iterable<T>)[Symbol.iterator]();
  throw new TypeError(`items must be an iterable or an async iterable, got ${items === null ? 'null' : typeof items}`);
}

export interface ProcessBatchOptions {
  /** Calls of `fn` running at once; default 8, 1 to 10,000. */
  concurrency?: number;
}

/**
 * Calls `fn(item, index)` for every item with at most `concurrency` calls at once and resolves with
 * the results in input order. The first failure rejects (no new calls start; running ones finish).
 */
export async function processBatch<T, R>(
  items: Source<T>,
  fn: (item: T, index: number) => R | Promise<R>,
  options: ProcessBatchOptions = {},
): Promise<R[]> {
  const concurrency = checkInt('processBatch', 'concurrency', options.concurrency, 8, 1, 10_000);
  if (typeof fn !== 'function') throw new TypeError('processBatch: fn must be a function');
  const it = iterate(items);
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
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Yields arrays of `size` items (the last may be shorter) from an iterable or async iterable. */
export async function* chunkArray<T>(items: Source<T>, size: number): AsyncGenerator<T[], void, undefined> {
  const n = checkInt('chunkArray', 'size', size, 0, 1, 1_000_000);
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
