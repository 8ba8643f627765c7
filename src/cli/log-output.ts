// Where `headroom serve` logs: stdout, written asynchronously by pino's sonic-boom, with an exit
// path that cannot hang. pino's default stdout stream flushes synchronously on process exit and
// sonic-boom's flushSync retries a failed write forever (EPIPE included): with stdout a broken
// pipe the process then never exits, and, stuck in that loop, never sees a second signal.
import { pino, type DestinationStream } from 'pino';

// If stdout stops being read, at most this many bytes of log lines wait in memory; later lines
// are dropped rather than letting the log grow the heap — counted (dropped(), a metric) and
// reported in a warn line once stdout is read again.
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** Log lines stdout did not take (its reader stopped and the pending bytes were at the cap). */
export interface LogDrops {
  lines: number;
  bytes: number;
}

export interface LogOutput {
  stream: DestinationStream;
  /** Lines dropped so far, in total. */
  dropped(): LogDrops;
  /**
   * Calls `report` with the lines dropped since its last call each time stdout has taken
   * everything pending again (the reader is back), so the loss is told in the log itself.
   */
  onRecovered(report: (since: LogDrops) => void): void;
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
  const drops: LogDrops = { lines: 0, bytes: 0 };
  const told: LogDrops = { lines: 0, bytes: 0 };
  let report: ((since: LogDrops) => void) | undefined;
  stream.on('drop', (data: string | Buffer) => {
    const text = String(data);
    let lines = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    drops.lines += Math.max(1, lines);
    drops.bytes += Buffer.byteLength(data);
  });
  // 'drain': everything pending was written (many times a second while logging flows).
  stream.on('drain', () => {
    if (!report || drops.lines === told.lines) return;
    const since = { lines: drops.lines - told.lines, bytes: drops.bytes - told.bytes };
    told.lines = drops.lines;
    told.bytes = drops.bytes;
    report(since);
  });
  // Never write synchronously at exit: settle() has written what could be written, and a
  // synchronous retry loop on a dead or full pipe would keep the process from exiting.
  stream.flushSync = () => {};

  let settled: Promise<void> | undefined;
  return {
    stream,
    dropped: () => ({ ...drops }),
    onRecovered(r) {
      report = r;
    },
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
