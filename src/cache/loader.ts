// Runs a getOrSet loader with a timeout (HEADROOM_CACHE_LOADER_TIMEOUT). The timer is cleared
// as soon as the loader settles and never keeps the process alive.
import { HeadroomError } from '../errors.js';

export async function runLoader<T>(key: string, loader: () => Promise<T> | T, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HeadroomError('HEADROOM_CACHE_LOADER_TIMEOUT', `loader for "${key}" did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    return await Promise.race([Promise.resolve().then(loader), timeout]);
  } finally {
    clearTimeout(timer);
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
}
