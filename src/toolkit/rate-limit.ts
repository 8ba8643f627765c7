import { HeadroomError } from '../errors.js';

// Per-client fixed-window rate limit for the admin API. Bounded: at most `maxClients` windows are
// tracked (oldest dropped first), each keyed on at most KEY_CHARS of the client's name (a client
// address taken from a forwarded header may be anything a client sent), and windows expire
// lazily, so no timer is needed.
export interface RateLimiter {
  /** Returns 0 when allowed, else the seconds to wait. */
  hit(client: string, now?: number): number;
  size(): number;
}

/** An IPv6 address with a zone fits; a longer name is cut to this. */
const KEY_CHARS = 64;

export function createRateLimiter(options: { limit: number; windowMs: number; maxClients?: number }): RateLimiter {
  const maxClients = options.maxClients ?? 10_000;
  // Map keeps insertion order; re-inserting on a new window keeps the oldest windows first.
  const windows = new Map<string, { start: number; count: number }>();
  return {
    hit(name, now = Date.now()) {
      const client = name.length > KEY_CHARS ? name.slice(0, KEY_CHARS) : name;
      let w = windows.get(client);
      if (!w || now - w.start >= options.windowMs) {
        windows.delete(client);
        if (windows.size >= maxClients) windows.delete(windows.keys().next().value as string);
        w = { start: now, count: 0 };
        windows.set(client, w);
      }
      w.count++;
      if (w.count <= options.limit) return 0;
      return Math.max(1, Math.ceil((w.start + options.windowMs - now) / 1000));
    },
    size: () => windows.size,
  };
}

/** Throws 429 with Retry-After when the client is over its limit. */
export function enforceRateLimit(limiter: RateLimiter, client: string): void {
  const wait = limiter.hit(client);
  if (wait > 0) {
    throw new HeadroomError('HEADROOM_RATE_LIMITED', `too many admin requests; retry in ${wait} s`, {
      headers: { 'retry-after': String(wait) },
    });
  }
}
