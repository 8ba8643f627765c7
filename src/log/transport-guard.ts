// The main-thread side of the log transport. pino.transport's thread-stream copies each line into a
// shared buffer (4 MiB) and, when the worker falls behind, queues the rest in an array on the main
// thread up to ~512 MiB before it blocks the event loop with a synchronous drain. guardTransport()
// stops writing as soon as thread-stream reports that its shared buffer is full (write() returns
// false) and drops (counted as 'cap') until 'drain': the main thread then holds at most the shared
// buffer plus one line, never an unbounded array, and never blocks.
import { once, type EventEmitter } from 'node:events';
import { DROP_REASONS, STATS_EVENT, type DropReason, type LogShipStats } from './types.js';

/** What pino.transport() returns (a thread-stream), as far as the guard uses it. */
export interface TransportStream extends EventEmitter {
  write(data: string): boolean;
  end(): void;
}

export interface GuardedTransportStats extends LogShipStats {
  /** Lines dropped on the main thread because thread-stream's buffer was full (included in dropped.cap). */
  droppedMain: number;
  /** Bytes written to thread-stream that the worker has not reported reading (at most its buffer, ~4 MiB, plus a line). */
  transitBytes: number;
}

export interface GuardedTransport {
  readonly writable: boolean;
  write(line: string): boolean;
  stats(): GuardedTransportStats;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type WorkerStats = LogShipStats & { receivedBytes?: number };

export function guardTransport(stream: TransportStream): GuardedTransport {
  let full = false;
  let produced = 0;
  let droppedMain = 0;
  let writtenBytes = 0;
  let worker: WorkerStats | undefined;
  const onDrain = (): void => void (full = false);
  const onStats = (s: WorkerStats): void => void (worker = s);
  stream.on('drain', onDrain);
  stream.on(STATS_EVENT, onStats);
  let closed: Promise<void> | undefined;

  function write(line: string): boolean {
    produced++;
    if (full || closed) {
      droppedMain++;
      return true;
    }
    writtenBytes += Buffer.byteLength(line);
    if (!stream.write(line)) full = true; // thread-stream queued it; nothing more until 'drain'
    return true;
  }

  function stats(): GuardedTransportStats {
    const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, worker?.dropped[r] ?? 0])) as Record<DropReason, number>;
    dropped.cap += droppedMain;
    const sent = worker?.sent ?? 0;
    const droppedTotal = Object.values(dropped).reduce((a, b) => a + b, 0);
    const transitBytes = Math.max(0, writtenBytes - (worker?.receivedBytes ?? 0));
    return {
      produced,
      sent,
      dropped,
      // Lines between the threads are pending too: derived, so the sum always adds up.
      pendingEntries: produced - sent - droppedTotal,
      pendingBytes: (worker?.pendingBytes ?? 0) + transitBytes,
      maxBytes: worker?.maxBytes ?? 0,
      requests: worker?.requests ?? { ok: 0, partial: 0, rejected: 0, error: 0, timeout: 0, refused: 0 },
      sinkState: worker?.sinkState ?? 'up',
      format: worker?.format ?? 'jsonl',
      ...(worker?.spill && { spill: worker.spill }),
      droppedMain,
      transitBytes,
    };
  }

  async function close(): Promise<void> {
    const done = once(stream, 'close');
    // pino.transport unrefs its worker (again once it is ready, so ref() is not enough): in a script
    // with nothing else to do the process would exit while the worker still ships, and `await
    // close()` would never settle. A ref'd timer holds the process until the worker has closed
    // (at most a minute: the worker's own close is bounded by the shipper's timeout).
    const hold = setTimeout(() => {}, 60_000);
    stream.end();
    await done.catch(() => {});
    clearTimeout(hold);
    stream.off('drain', onDrain);
    stream.off(STATS_EVENT, onStats);
  }

  return {
    writable: true,
    write,
    stats,
    close: () => (closed ??= close()),
    [Symbol.asyncDispose]: () => (closed ??= close()),
  };
}
