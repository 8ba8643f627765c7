// Public types of the two-tier cache (headroom/cache). The proxy and image parts depend only on
// these. Times are milliseconds; sizes are bytes.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { PressureSource } from '../monitor/types.js';

/** JSON-serialisable values, or bytes (Buffer / Uint8Array come back as Buffer). */
export type CacheValue = unknown;

export interface SetOptions {
  ttl?: number;
  tags?: string[];
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
  l2: (TierStats & { kind: 'disk' | 'redis'; connected: boolean; keyCount: number | null }) | null;
  hitRatio: number;
  singleFlight: { deduplicated: number; inFlight: number };
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
  stats(): CacheStats;
  topKeys(n: number): { key: string; count: number }[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface CacheOptions {
  l1?: { maxBytes?: number; maxEntries?: number; maxEntryBytes?: number };
  disk?: { dir: string; maxBytes?: number } | false;
  redis?: { url: string; keyPrefix?: string } | undefined;
  defaultTtl?: number;
  monitor?: PressureSource;
  /** Fraction of the L1 budget kept under warning pressure. */
  pressureShrinkRatio?: number;
  cleanupInterval?: number;
  logger?: Logger;
}
