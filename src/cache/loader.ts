// getOrSet's single flight (one load of a key, however many callers wait for it, each under its own
// timeout: HEADROOM_CACHE_LOADER_TIMEOUT) and the L2 circuit breaker. Timers are cleared as soon
// as the loader settles and never keep the process alive.
import { HeadroomError } from '../errors.js';

/** What one getOrSet caller asked for, as its flight records it (defaults already applied). */
export interface Caller {
  ttl: number;
  grace: number;
  tags: readonly string[] | undefined;
  transfer: boolean;
  /** How long this caller waits for the loader (ms). */
  timeout: number;
}

/** What the joined callers' entry is stored with: every tag, the shortest ttl and grace. */
export interface Merged {
  ttl: number;
  grace: number;
  tags: string[];
  transfer: boolean;
}

interface Waiter {
  timeout: number;
  timer: NodeJS.Timeout | undefined;
  reject: (err: Error) => void;
  done: boolean;
}

/**
 * One load of a key and the callers waiting for it (docs/cache.md, "Single-flight, errors and
 * grace"). Each caller waits under its own timeout, counted while the loader runs (from its start,
 * or from when the caller joined a loader already running); a timeout rejects that caller only.
 * The callers that joined before the loader returned all shape the entry stored: the union of their
 * tags, the shortest ttl and grace, transfer only when every one of them allowed it. A caller that
 * joins after the loader returned (while the value is being stored) gets the value as from a hit,
 * its options unused. When every caller still waiting has timed out before the loader settles, the
 * flight is abandoned: it leaves the cache's table at once (the next call loads again), and its
 * value, when it comes, is given to nobody and not cached.
 */
export class Flight<T> {
  /** The load: settles with the answer or the loader's error, whatever the callers' timeouts. */
  readonly work: Promise<T>;
  /** Every caller timed out before the loader settled. */
  abandoned = false;
  private readonly tags = new Set<string>();
  private ttl = Infinity;
  private grace = Infinity;
  private transfer = true;
  /** The loader is running: waiters' timers run. */
  private loading = false;
  /** The loader has returned: the stored entry's options are fixed. */
  private loaded = false;
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly key: string,
    run: (f: Flight<T>) => Promise<T>,
    private readonly hooks: { onTimeout: () => void; onAbandon: () => void },
  ) {
    this.work = run(this);
  }

  /** A caller's wait for the answer, within its own timeout. */
  join(c: Caller): Promise<T> {
    if (!this.loaded) {
      if (c.tags !== undefined) for (const t of c.tags) this.tags.add(t);
      this.ttl = Math.min(this.ttl, c.ttl);
      this.grace = Math.min(this.grace, c.grace);
      this.transfer &&= c.transfer;
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = { timeout: c.timeout, timer: undefined, reject, done: false };
      this.waiters.add(w);
      if (this.loading) this.arm(w);
      const finish = (): void => {
        w.done = true;
        clearTimeout(w.timer);
        this.waiters.delete(w);
      };
      this.work.then(
        (v) => {
          if (w.done) return;
          finish();
          resolve(v);
        },
        (err: unknown) => {
          if (w.done) return;
          finish();
          reject(err as Error);
        },
      );
    });
  }

  /** Runs the loader: the waiters' timeouts run until it settles. */
  async load<V>(loader: () => Promise<V> | V): Promise<V> {
    this.loading = true;
    for (const w of this.waiters) this.arm(w);
    try {
      return await Promise.resolve().then(loader);
    } finally {
      this.loading = false;
      this.loaded = true;
      // What is left (storing the value) is bounded by the store's own deadline.
      for (const w of this.waiters) clearTimeout(w.timer);
    }
  }

  /** The options the entry is stored with (see the class comment). */
  merged(): Merged {
    return { ttl: this.ttl, grace: this.grace, tags: [...this.tags], transfer: this.transfer };
  }

  private arm(w: Waiter): void {
    if (w.done || w.timer !== undefined) return;
    w.timer = setTimeout(() => {
      w.done = true;
      this.waiters.delete(w);
      this.hooks.onTimeout();
      w.reject(new HeadroomError('HEADROOM_CACHE_LOADER_TIMEOUT', `loader for "${this.key}" did not finish within ${w.timeout} ms`));
      if (this.waiters.size === 0 && this.loading) {
        this.abandoned = true;
        this.hooks.onAbandon();
      }
    }, w.timeout);
    w.timer.unref();
  }
}

/** Circuit breaker for L2: after a failure L2 is skipped for `duration` ms, or until the store says it is back. */
export class Breaker {
  private until = 0;
  constructor(private readonly duration: number) {}
  get open(): boolean {
    return this.until !== 0 && Date.now() < this.until;
  }
  /** Returns true when this failure opened a closed breaker. */
  trip(): boolean {
    const wasOpen = this.open;
    this.until = Date.now() + this.duration;
    return !wasOpen;
  }
  reset(): void {
    this.until = 0;
  }
  /** Milliseconds until L2 may be tried again (0 when closed). */
  remaining(): number {
    return this.open ? this.until - Date.now() : 0;
  }
}
