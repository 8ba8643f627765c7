// Public types of the two-tier cache (headroom-memory/cache). The proxy and image parts depend only on
// these. Times are milliseconds; sizes are bytes.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { PressureSource } from '../monitor/types.js';
import type { BusFaults, BusStats } from './bus-stats.js';
import type { GenerationStats } from './generations.js';
import type { RedisStats } from './stores/types.js';

export type { BusFaults, BusStats, LagHistogram } from './bus-stats.js';
export type { GenerationStats } from './generations.js';
export type { RedisStats } from './stores/types.js';

/** createCache's `redis`: which Redis, and the bounds of the calls to it (src/cache/options.ts). */
export interface RedisOptions {
  /** One of url, clusterNodes (host:port list), sentinels (with sentinelName). */
  url?: string;
  clusterNodes?: string[];
  sentinels?: string[];
  sentinelName?: string;
  /** For a cluster or Sentinel (a single server takes it in the URL). */
  password?: string;
  tls?: boolean;
  keyPrefix?: string;
  /** Values above this are stored in chunks of this size. */
  chunkSize?: Bytes;
  /** Longest wait of a call (and of each command), ms. */
  commandTimeout?: Duration;
  /** Most calls in flight. */
  maxPending?: number;
}

/** JSON-serialisable values, or bytes (Buffer / Uint8Array come back as Buffer). */
export type CacheValue = unknown;

export interface SetOptions {
  ttl?: number;
  tags?: string[];
  /** Keep the entry this long past its TTL so getOrSet calls with `grace` can serve it stale. */
  grace?: number;
  /**
   * Binary values only: the cache keeps this Buffer itself instead of a copy (saves a copy and
   * its allocation for large values). The caller must not modify it afterwards. A view into a
   * larger ArrayBuffer (such as Node's shared pool) is still copied, so it cannot retain the rest.
   */
  transfer?: boolean;
}

export interface GetOrSetOptions extends SetOptions {
  /** Serve a stale value for up to this long after expiry while one background refresh runs. */
  grace?: number;
  /** Loader timeout (HEADROOM_CACHE_LOADER_TIMEOUT). */
  timeout?: number;
}

export interface StreamEntry {
  stream: Readable;
  size: number;
}

export interface TierStats {
  hits: number;
  misses: number;
  bytes: number;
  entries: number;
  errors: number;
}

export interface CacheStats {
  l1: TierStats & {
    maxBytes: number;
    effectiveMaxBytes: number;
    maxEntries: number;
    evictions: Record<string, number>;
  };
  l2:
    | (TierStats & {
        kind: 'disk' | 'redis';
        connected: boolean;
        keyCount: number | null;
        /** Files/values found corrupt or truncated (each counted as a miss and removed). */
        corrupt?: number;
        evictions?: number;
        /** True while L2 is skipped after a failure (circuit breaker). */
        breakerOpen?: boolean;
        /**
         * Deletes, invalidations and writes L2 did not take while it failed or was skipped, applied
         * before L2 is used again (keys and tags held; `all`: an invalidateAll is owed).
         */
        unapplied?: { keys: number; tags: number; all: boolean };
        /**
         * Redis: topology (single, cluster, sentinel), the server(s) this instance talks to now
         * (host:port), calls in flight now / at most / allowed (maxPending), calls refused over
         * the cap, calls answered at their deadline (commandTimeout) and the longest wait.
         */
        redis?: RedisStats;
      })
    | null;
  hitRatio: number;
  singleFlight: { deduplicated: number; inFlight: number };
  /**
   * Loader outcomes of getOrSet: loader runs, loaders that failed, callers that got
   * HEADROOM_CACHE_LOADER_TIMEOUT (each caller has its own timeout), background refreshes under grace.
   */
  loader?: { calls: number; errors: number; timeouts: number; refreshes: number };
  /** Invalidation bus (Redis pub/sub), null without Redis. */
  bus?: BusStats | null;
  /** What bounds L1 staleness between instances (with Redis; null without). */
  coherence?: {
    maxStale: number;
    generationCheckInterval: number;
    /** L1 copies read again from Redis because they were older than maxStale or than the last revalidation. */
    revalidations: number;
    /** Of those, served from L1 anyway because Redis failed (fail-fast to L1). */
    servedOnL2Failure: number;
    generations: GenerationStats;
  } | null;
}

export interface Cache {
  get<T = CacheValue>(key: string): Promise<T | undefined>;
  set(key: string, value: CacheValue, options?: SetOptions): Promise<void>;
  delete(key: string): Promise<void>;
  has(key: string): Promise<boolean>;
  getOrSet<T = CacheValue>(key: string, loader: () => Promise<T> | T, options?: GetOrSetOptions): Promise<T>;
  invalidateByTag(tag: string): Promise<void>;
  invalidateAll(): Promise<void>;
  /** Large binary values: streamed from L2 (or L1 when held there). undefined on miss. */
  getStream(key: string): Promise<StreamEntry | undefined>;
  setStream(key: string, readable: Readable, options: SetOptions & { size?: number }): Promise<void>;
  /**
   * The largest value get() gives back whole: disk.maxGetBytes with a disk, 64 MiB with Redis,
   * l1.maxEntryBytes without an L2 (larger values are read with getStream(), or not kept at all).
   * Optional for other implementations of this interface.
   */
  readonly maxValueBytes?: number;
  stats(): CacheStats;
  topKeys(n: number): { key: string; count: number }[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Bytes: a number, or a size as the variables take it ('64MiB', '512KiB', '10MB'). */
export type Bytes = number | string;
/** Milliseconds: a number, or a duration as the variables take it ('5m', '30s', '250ms'). */
export type Duration = number | string;

/**
 * Options of createCache. Defaults and bounds are those of the gateway's CACHE_* configuration
 * (docs/configuration.md; declared once in src/cache/options.ts). Times are ms, sizes bytes.
 */
export interface CacheOptions {
  /**
   * L1: maxBytes (CACHE_MAX_BYTES; unset: 64 MiB, or an eighth of the monitor's memory limit if
   * smaller), maxEntries, maxEntryBytes (unset: 8 MiB or maxBytes if smaller).
   */
  l1?: { maxBytes?: Bytes; maxEntries?: number; maxEntryBytes?: Bytes };
  /** Disk L2 (off when not given): dir, maxBytes, maxEntries (index size); maxGetBytes: largest value get() reads. */
  disk?: { dir?: string; maxBytes?: Bytes; maxEntries?: number; maxGetBytes?: Bytes } | false;
  /**
   * Redis L2 and invalidation bus (replaces the disk L2): one server (url), a cluster (clusterNodes:
   * host:port list) or Sentinel (sentinels and sentinelName); password and tls for the last two.
   * chunkSize: values above it are chunked; commandTimeout: longest wait of a call; maxPending:
   * most calls in flight.
   */
  redis?: RedisOptions | null;
  defaultTtl?: Duration;
  monitor?: PressureSource;
  /** Fraction of the L1 budget kept under warning pressure. */
  pressureShrinkRatio?: number;
  cleanupInterval?: Duration;
  /** Default getOrSet loader timeout (HEADROOM_CACHE_LOADER_TIMEOUT). */
  loaderTimeout?: Duration;
  /** After an L2 failure, L2 is skipped for this long (circuit breaker). */
  breakDuration?: Duration;
  /** With Redis: longest an L1 copy is served before it is read from Redis again (CACHE_L1_MAX_STALE). */
  maxStale?: Duration;
  /** With Redis: how often, at most, each tag's (and the clear's) generation is read from Redis (CACHE_L1_CHECK_INTERVAL). */
  generationCheckInterval?: Duration;
  /** Tests and benchmarks only: loses incoming bus messages on purpose. */
  busFaults?: BusFaults;
  logger?: Logger;
}
