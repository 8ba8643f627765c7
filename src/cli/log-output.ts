// Where `headroom serve` logs: stdout, written asynchronously by pino's sonic-boom, with an exit
// path that cannot hang. pino's default stdout stream flushes synchronously on process exit and
// sonic-boom's flushSync retries a failed write forever (EPIPE included): with stdout a broken
// pipe the process then never exits, and, stuck in that loop, never sees a second signal.
import { pino, type DestinationStream } from 'pino';

// If stdout stops being read, at most this many bytes of log lines wait in memory; later lines
// are dropped rather than letting the log grow the heap.
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

export interface LogOutput {
  stream: DestinationStream;
  /**
   * Resolves once every line logged so far is written, or the destination has failed (a reader
   * that went away), or after `timeoutMs` (a reader that stopped reading). Logging ends here.
   */
  settle(timeoutMs: number): Promise<void>;
}

export function createLogOutput(fd = 1): LogOutput {
  // Opening process.stdout makes a pipe non-blocking (libuv): a reader that stops reading then
  // makes writes fail with EAGAIN, retried on a timer, instead of blocking a thread-pool thread,
  // which would keep the process from exiting at all (Node joins its thread pool on exit).
  if (fd === 1) void process.stdout;
  const stream = pino.destination({ dest: fd, sync: false, maxLength: MAX_PENDING_BYTES });
  let failed = false;
  // pino's own listener makes the stream a no-op on EPIPE; this one keeps other write errors
  // (EBADF when stdout is closed, …) from crashing the gateway.
  stream.on('error', () => {
    failed = true;
  });
  // Never write synchronously at exit: settle() has written what could be written, and a
  // synchronous retry loop on a dead or full pipe would keep the process from exiting.
  stream.flushSync = () => {};

  let settled: Promise<void> | undefined;
  return {
    stream,
    settle: (timeoutMs) =>
      (settled ??= new Promise<void>((resolve) => {
        if (failed) return resolve();
        const done = (): void => {
          clearTimeout(timer);
          stream.off('close', done);
          stream.off('error', done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        stream.once('close', done);
        stream.once('error', done);
        stream.end();
      })),
  };
}
