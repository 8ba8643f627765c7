// The sizes of the decode and encode stages (stages.ts), in a module of their own so that a
// service whose pipeline has not loaded yet (lazy.ts) reports the same queue figures.
import type { ResolvedImageOptions } from './options.js';
import type { QueueStats } from './transform-queue.js';

type Options = Pick<ResolvedImageOptions, 'concurrency' | 'encodeConcurrency' | 'queueSize' | 'memoryBudget'>;
type Size = Pick<QueueStats, 'concurrency' | 'queueSize' | 'memoryBudget'>;

export function stageSizes(o: Options): { queue: Size; encoder: Size | null; encodeBacklog: number } {
  // Up to `encodeConcurrency` decoded outputs may wait for an encoder after their slot went to the
  // next decode; beyond that a slot is held until an encoder takes its pixels. So at most
  // 2 × encodeConcurrency + concurrency outputs (≤ 8 MiB each) exist at once.
  const encodeBacklog = o.encodeConcurrency;
  return {
    queue: { concurrency: o.concurrency, queueSize: o.queueSize, memoryBudget: o.memoryBudget },
    encoder:
      o.encodeConcurrency > 0
        ? { concurrency: o.encodeConcurrency, queueSize: encodeBacklog + o.concurrency, memoryBudget: o.memoryBudget }
        : null,
    encodeBacklog,
  };
}

/** A queue of this size with nothing running or waiting. */
export const idleQueue = (size: Size): QueueStats => ({ active: 0, queued: 0, reservedBytes: 0, waitingBytes: 0, lent: 0, ...size });
