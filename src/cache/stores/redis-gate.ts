// The two bounds RedisStore puts around every call, which ioredis does not give: a cap on calls in
// flight (ioredis queues without bound: redis/ioredis#76) and a deadline on the whole call. A call
// over the deadline is answered at once; it keeps its place under the cap until its commands really
// end. A call has at most one command outstanding at a time, and ioredis settles a command only
// when it lets go of it (the clients have no ioredis commandTimeout: see redis-client.ts), so calls
// in flight bound the commands the client holds, wherever they wait: written and unanswered, in an
// offline queue, or in a cluster's redirections and retry timers.
import { HeadroomError } from '../../errors.js';

export interface GateStats {
  /** Calls in flight now (each has at most one Redis command outstanding at a time). */
  pending: number;
  /** The most calls ever in flight at once. */
  pendingPeak: number;
  maxPending: number;
  /** Calls refused because maxPending were in flight. */
  refused: number;
  /** Calls answered at their deadline, before Redis did. */
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
  ) {}

  /**
   * Runs `op` within the cap, answered by `timeout` at the latest (HEADROOM_CACHE_STORE_UNAVAILABLE).
   * `op` sends one command at a time and settles only when its last command has ended.
   */
  run<T>(op: () => Promise<T>): Promise<T> {
    if (this.pending >= this.max) {
      this.refused++;
      return Promise.reject(
        new HeadroomError('HEADROOM_CACHE_STORE_BUSY', `redis: ${this.max} calls or commands already in flight (maxPending)`),
      );
    }
    this.pending++;
    if (this.pending > this.peak) this.peak = this.pending;
    const started = performance.now();
    let settled: Promise<T>;
    try {
      settled = op();
    } catch (err) {
      settled = Promise.reject(err as Error);
    }
    const done = settled.finally(() => this.pending--);
    // The caller's wait ends at its answer or its deadline, whichever comes first (the call itself
    // may go on after the deadline, holding its place under the cap).
    let waitEnded = false;
    const answered = (): void => {
      if (waitEnded) return;
      waitEnded = true;
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
