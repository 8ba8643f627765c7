// headroom-memory/cache: a bounded two-tier cache (see docs/cache.md).
import { TieredCache } from './tiered.js';
import type { Cache, CacheOptions } from './types.js';

export function createCache(options: CacheOptions = {}): Cache {
  return new TieredCache(options);
}

export { createL1, L1 } from './l1.js';
export type { L1Options, L1Entry, EvictionReason } from './l1.js';
export type * from './types.js';
export { registerCacheMetrics } from '../metrics/cache.js';
export * from '../errors-entry.js';
