// What the invalidation bus reports, and its test-only fault hook. Kept apart from bus.ts, which
// loads ioredis: the cache reads these without Redis configured (see stores/redis-lazy.ts).

/** Upper bounds of the lag histogram, seconds. */
export const LAG_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/**
 * Test-only fault injection (createCache's `busFaults`): `dropIncoming()` is asked for every
 * well-formed message another instance sent, before anything else looks at it; true loses it as
 * pub/sub would (its sender's sequence then shows a gap at the next message that arrives).
 */
export interface BusFaults {
  dropIncoming(): boolean;
}

/** `cumulative[i]` arrivals took at most `boundsSeconds[i]`; `count` is all of them. */
export interface LagHistogram {
  boundsSeconds: readonly number[];
  cumulative: number[];
  sum: number;
  count: number;
}

export interface BusStats {
  connected: boolean;
  /** Messages this instance meant to publish (each took a sequence number). */
  sent: number;
  /** Of those, not handed to Redis (not connected) or refused by it. */
  sendErrors: number;
  /** Messages from other instances that arrived. */
  received: number;
  /** Messages from other instances found missing by gaps in their sequence numbers. */
  dropped: number;
  /** Gaps seen (each made L1 revalidate). */
  gaps: number;
  /** Messages on the channel that were malformed or out of bounds (ignored). */
  malformed: number;
  /** Times the subscriber reconnected after a drop (each made L1 revalidate). */
  reconnects: number;
  /** Time from publish to arrival (sender's clock to ours: exact on one host, else as good as the clocks' sync). */
  lag: { lastMs: number | null; maxMs: number | null; histogram: LagHistogram };
}

/** A bus's stats before it exists (its module still loading). */
export function idleBusStats(): BusStats {
  return {
    connected: false,
    sent: 0,
    sendErrors: 0,
    received: 0,
    dropped: 0,
    gaps: 0,
    malformed: 0,
    reconnects: 0,
    lag: {
      lastMs: null,
      maxMs: null,
      histogram: { boundsSeconds: LAG_BUCKETS_SECONDS, cumulative: LAG_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 },
    },
  };
}
