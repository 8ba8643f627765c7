// The two bounds RedisStore puts around every call, which ioredis does not give: a cap on calls in
// flight (ioredis queues without bound: redis/ioredis#76) and a deadline on the whole call (ioredis's
// commandTimeout covers one command on one connection, not a cluster's redirections and retry
// delays, nor a call of several commands). A call over the deadline is answered at once; it keeps
// its place under the cap until its commands really end. ioredis's own commandTimeout rejects a
// command's promise but leaves the command queued on its connection until Redis answers (a paused
// or hung server), so the gate also asks the client how many commands it really holds (`depth`).
import { HeadroomError } from '../../errors.js';

/** The message of ioredis's commandTimeout rejection (ioredis/built/Command.js). */
const IOREDIS_TIMEOUT = 'Command timed out';

export interface GateStats {
  /** Calls in flight now (each has at most one Redis command outstanding at a time). */
  pending: number;
  /** The most calls (or commands held by the client) ever in flight at once. */
  pendingPeak: number;
  maxPending: number;
  /** Calls refused because maxPending were in flight. */
  refused: number;
  /** Calls answered at their deadline (or ioredis's commandTimeout, which ends at the same time), before Redis did. */
  timedOut: number;
  /** The longest any call waited for its answer (or its deadline), ms; refused calls wait 0. */
  waitPeakMs: number;
}

export class Gate {
  private pending = 0;
  private peak = 0;
  private refused = 0;
  private timedOut = 0;
  private waitPeak = 0;

  constructor(
    private readonly max: number,
    private readonly timeout: number,
    /** Commands the client holds now (sent and unanswered, or waiting to be sent). */
    private readonly depth: () => number = () => 0,
  ) {}

  /** Runs `op` within the cap, answered by `timeout` at the latest (HEADROOM_CACHE_STORE_UNAVAILABLE). */
  run<T>(op: () => Promise<T>): Promise<T> {
    const held = Math.max(this.pending, this.depth());
    if (held >= this.max) {
      this.refused++;
      return Promise.reject(
        new HeadroomError('HEADROOM_CACHE_STORE_BUSY', `redis: ${this.max} calls or commands already in flight (maxPending)`),
      );
    }
    this.pending++;
    if (held + 1 > this.peak) this.peak = held + 1;
    const started = performance.now();
    let settled: Promise<T>;
    try {
      settled = op();
    } catch (err) {
      settled = Promise.reject(err as Error);
    }
    const done = settled.finally(() => this.pending--);
    const answered = (): void => {
      const waited = performance.now() - started;
      if (waited > this.waitPeak) this.waitPeak = waited;
    };
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.timedOut++;
        answered();
        reject(new HeadroomError('HEADROOM_CACHE_STORE_UNAVAILABLE', `redis: no answer within ${this.timeout} ms (commandTimeout)`));
      }, this.timeout);
      timer.unref();
      done.then(
        (v) => {
          clearTimeout(timer);
          answered();
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          answered();
          // ioredis's own commandTimeout (the same length, started a moment earlier) often wins the race.
          if (err instanceof Error && err.message === IOREDIS_TIMEOUT) this.timedOut++;
          reject(err as Error);
        },
      );
    });
  }

  stats(): GateStats {
    return {
      pending: this.pending,
      pendingPeak: this.peak,
      maxPending: this.max,
      refused: this.refused,
      timedOut: this.timedOut,
      waitPeakMs: this.waitPeak,
    };
  }
}
