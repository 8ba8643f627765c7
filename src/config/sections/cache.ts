// Options of the two-tier cache (src/cache): each CACHE_* variable is one of createCache's library
// options, declared once in src/cache/options.ts and used here as it is (CACHE_MAX_BYTES is
// l1.maxBytes, CACHE_DIR disk.dir, REDIS_URL redis.url, …; the gateway nests them, see gateway.ts).
import { cacheSpecs, diskSpecs, l1Specs, redisSpecs } from '../../cache/options.js';
import type { CacheOptions } from '../../cache/types.js';
import { bool, option, type OptionValue } from '../options.js';

export const cacheOptions = {
  maxBytes: option(l1Specs.maxBytes),
  maxEntries: option(l1Specs.maxEntries),
  maxEntryBytes: option(l1Specs.maxEntryBytes),
  defaultTtl: option(cacheSpecs.defaultTtl),
  // The gateway's choice of L2 (the library has a disk store only when given `disk`).
  diskEnabled: bool({ env: 'CACHE_DISK_ENABLED', doc: 'Use the embedded disk store as L2 when REDIS_URL is not set.', default: true }),
  dir: option(diskSpecs.dir),
  diskMaxBytes: option(diskSpecs.maxBytes),
  redisUrl: option(redisSpecs.url),
  pressureShrinkRatio: option(cacheSpecs.pressureShrinkRatio),
  loaderTimeout: option(cacheSpecs.loaderTimeout),
  diskMaxEntries: option(diskSpecs.maxEntries),
  redisKeyPrefix: option(redisSpecs.keyPrefix),
  redisChunkSize: option(redisSpecs.chunkSize),
  cleanupInterval: option(cacheSpecs.cleanupInterval),
  l1MaxStale: option(cacheSpecs.maxStale),
  l1CheckInterval: option(cacheSpecs.generationCheckInterval),
};

type CacheConfig = { [K in keyof typeof cacheOptions]: OptionValue<(typeof cacheOptions)[K]> };

/** createCache's nested options from the flat configuration: the one place the keys are mapped. */
export function cacheLibraryOptions(c: CacheConfig) {
  return {
    l1: { maxBytes: c.maxBytes, maxEntries: c.maxEntries, maxEntryBytes: c.maxEntryBytes },
    disk: !c.redisUrl && c.diskEnabled ? { dir: c.dir, maxBytes: c.diskMaxBytes, maxEntries: c.diskMaxEntries } : (false as const),
    redis: c.redisUrl ? { url: c.redisUrl, keyPrefix: c.redisKeyPrefix, chunkSize: c.redisChunkSize } : undefined,
    defaultTtl: c.defaultTtl,
    pressureShrinkRatio: c.pressureShrinkRatio,
    cleanupInterval: c.cleanupInterval,
    loaderTimeout: c.loaderTimeout,
    maxStale: c.l1MaxStale,
    generationCheckInterval: c.l1CheckInterval,
  } satisfies CacheOptions;
}
