// The main-thread side of the log transport. pino.transport's thread-stream copies each line into a
// shared buffer (4 MiB) and, when the worker falls behind, queues the rest in an array on the main
// thread up to ~512 MiB before it blocks the event loop with a synchronous drain. guardTransport()
// stops writing as soon as thread-stream reports that its shared buffer is full (write() returns
// false) and drops (counted as 'cap') until 'drain': the main thread then holds at most the shared
// buffer plus one line, never an unbounded array, and never blocks. Once the worker is gone (it threw,
// exited, or closed), nothing is pending any more: what it had not reported is dropped as 'close',
// and so is every later line; the sink state reads 'closed'.
import type { EventEmitter } from 'node:events';
import { DROP_REASONS, STATS_EVENT, type DropReason, type LogShipStats } from './types.js';

/** What pino.transport() returns (a thread-stream), as far as the guard uses it. */
export interface TransportStream extends EventEmitter {
  write(data: string): boolean;
  end(): void;
  /** thread-stream: true from the moment its worker is gone (exited, threw, or terminated). */
  readonly destroyed?: boolean;
  /** thread-stream: true once 'close' has been emitted. */
  readonly closed?: boolean;
  /** thread-stream: false once it is ending or gone (a write then is not taken). */
  readonly writable?: boolean;
  /** thread-stream: the error its worker died of, if it did. */
  readonly writableErrored?: Error | null;
}

export interface GuardedTransportStats extends LogShipStats {
  /** Lines dropped on the main thread because thread-stream's buffer was full (included in dropped.cap). */
  droppedMain: number;
  /** Bytes written to thread-stream that the worker has not reported reading, at most its buffer (4 MiB) plus the largest line: between the worker's reports (statsInterval) an upper estimate. */
  transitBytes: number;
  /** Why the worker died, once it has (its error's message); absent while it runs and after an orderly close(). */
  workerError?: string;
}

export interface GuardedTransport {
  readonly writable: boolean;
  write(line: string): boolean;
  stats(): GuardedTransportStats;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type WorkerStats = LogShipStats & { receivedBytes?: number };

/** thread-stream's shared buffer (its default, which pino.transport() keeps): what write() fills before it returns false. */
const TRANSIT_MAX = 4 * 1024 * 1024;

/**
 * The lines a chunk completes, as the worker counts them: pino writes one line ending in a newline;
 * a direct write may hold several, or end inside a line (counted when its newline comes).
 */
function linesIn(chunk: string): number {
  let i = chunk.indexOf('\n');
  if (i === chunk.length - 1) return 1;
  let n = 0;
  for (; i !== -1; i = chunk.indexOf('\n', i + 1)) n++;
  return n;
}

export function guardTransport(stream: TransportStream): GuardedTransport {
  let full = false;
  let produced = 0;
  let droppedMain = 0;
  /** Lines never written because close() was called, or the stream was ending or gone ('close'). */
  let droppedClosed = 0;
  let writtenBytes = 0;
  let largestLine = 0;
  let worker: WorkerStats | undefined;
  // The worker is gone: it exited (close() or on its own), threw, or was terminated. What it had not
  // reported sent or dropped by then — the lines between the threads and the ones in its own queue —
  // never will be: stats() counts them as dropped ('close', the shipper was closed under them), and
  // its last stats are kept as they were, so no counter moves back afterwards.
  let dead = false;
  let workerError: string | undefined;
  let sawClose = false;
  let closeSeen!: () => void;
  const closeEvent = new Promise<void>((resolve) => (closeSeen = resolve));
  // Not an 'error' listener: that would swallow the worker's error, and an app without one of its
  // own must still stop on it as with pino.transport alone (a bad option names itself and ends
  // start-up instead of every line being lost quietly). thread-stream sets `destroyed` before it
  // emits 'error', so the guard checks it wherever it looks, and 'close' follows in every case.
  const died = (): boolean => {
    if (!dead && stream.destroyed === true) markDead();
    return dead;
  };
  function markDead(): void {
    if (dead) return;
    dead = true;
    const err = stream.writableErrored;
    if (err) workerError = err.message;
  }
  const onDrain = (): void => void (full = false);
  const onStats = (s: WorkerStats): void => {
    if (!died()) worker = s;
  };
  const onClose = (): void => {
    sawClose = true;
    markDead();
    closeSeen();
  };
  stream.on('drain', onDrain);
  stream.on(STATS_EVENT, onStats);
  stream.on('close', onClose);
  if (stream.closed === true) onClose(); // died before it was handed to the guard
  let closed: Promise<void> | undefined;

  function write(line: string): boolean {
    const n = linesIn(line);
    produced += n;
    if (closed || died() || stream.writable === false) {
      droppedClosed += n; // a dead or ending thread-stream would not take it (and would emit an error)
      return true;
    }
    if (full) {
      droppedMain += n;
      return true;
    }
    const bytes = Buffer.byteLength(line);
    writtenBytes += bytes;
    if (bytes > largestLine) largestLine = bytes;
    if (!stream.write(line)) full = true; // thread-stream queued it; nothing more until 'drain'
    return true;
  }

  function stats(): GuardedTransportStats {
    const gone = died();
    const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, worker?.dropped[r] ?? 0])) as Record<DropReason, number>;
    dropped.cap += droppedMain;
    dropped.close += droppedClosed;
    const sent = worker?.sent ?? 0;
    let droppedTotal = Object.values(dropped).reduce((a, b) => a + b, 0);
    if (gone) {
      // Nothing is pending in a dead worker: whatever was not accounted for is lost.
      const lost = Math.max(0, produced - sent - droppedTotal);
      dropped.close += lost;
      droppedTotal += lost;
    }
    // Written minus what the worker last said it read: its reports come every statsInterval, so
    // between them this counts lines long since read (17 MiB at 17 000 lines/s). thread-stream
    // holds at most its buffer plus the line that filled it, so that is the most in transit.
    const transitBytes = gone ? 0 : Math.min(Math.max(0, writtenBytes - (worker?.receivedBytes ?? 0)), TRANSIT_MAX + largestLine);
    return {
      produced,
      sent,
      dropped,
      // Lines between the threads are pending too: derived, so the sum always adds up.
      pendingEntries: produced - sent - droppedTotal,
      pendingBytes: gone ? 0 : (worker?.pendingBytes ?? 0) + transitBytes,
      maxBytes: worker?.maxBytes ?? 0,
      requests: worker?.requests ?? { ok: 0, partial: 0, rejected: 0, error: 0, timeout: 0, refused: 0 },
      sinkState: gone ? 'closed' : (worker?.sinkState ?? 'up'),
      lastFailure: worker?.lastFailure ?? null,
      format: worker?.format ?? 'jsonl',
      ...(worker?.spill && { spill: worker.spill }),
      droppedMain,
      transitBytes,
      ...(workerError !== undefined && { workerError }),
    };
  }

  async function close(): Promise<void> {
    if (!sawClose) {
      // pino.transport unrefs its worker (again once it is ready, so ref() is not enough): in a script
      // with nothing else to do the process would exit while the worker still ships, and `await
      // close()` would never settle. A ref'd timer holds the process until the worker has closed
      // (at most a minute: the worker's own close is bounded by the shipper's timeout). A worker that
      // died is closed by thread-stream all the same ('close' follows its error), so this waits for
      // that too, never for an event that already came.
      const hold = setTimeout(() => {}, 60_000);
      stream.end(); // a no-op on a dead thread-stream
      await closeEvent;
      clearTimeout(hold);
    }
    stream.off('drain', onDrain);
    stream.off(STATS_EVENT, onStats);
    stream.off('close', onClose);
  }

  return {
    writable: true,
    write,
    stats,
    close: () => (closed ??= close()),
    [Symbol.asyncDispose]: () => (closed ??= close()),
  };
}
