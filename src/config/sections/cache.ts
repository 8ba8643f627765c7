// Options of the two-tier cache (src/cache): each CACHE_* variable is one of createCache's library
// options, declared once in src/cache/options.ts and used here as it is (CACHE_MAX_BYTES is
// l1.maxBytes, CACHE_DIR disk.dir, REDIS_URL redis.url, REDIS_CLUSTER_NODES redis.clusterNodes, …;
// the gateway nests them, see gateway.ts).
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
  redisClusterNodes: option(redisSpecs.clusterNodes),
  redisSentinels: option(redisSpecs.sentinels),
  redisSentinelName: option(redisSpecs.sentinelName),
  redisPassword: option(redisSpecs.password),
  redisTls: option(redisSpecs.tls),
  pressureShrinkRatio: option(cacheSpecs.pressureShrinkRatio),
  loaderTimeout: option(cacheSpecs.loaderTimeout),
  diskMaxEntries: option(diskSpecs.maxEntries),
  redisKeyPrefix: option(redisSpecs.keyPrefix),
  redisChunkSize: option(redisSpecs.chunkSize),
  redisCommandTimeout: option(redisSpecs.commandTimeout),
  redisMaxPending: option(redisSpecs.maxPending),
  cleanupInterval: option(cacheSpecs.cleanupInterval),
  l1MaxStale: option(cacheSpecs.maxStale),
  l1CheckInterval: option(cacheSpecs.generationCheckInterval),
};

type CacheConfig = { [K in keyof typeof cacheOptions]: OptionValue<(typeof cacheOptions)[K]> };

/** Whether the configuration names a Redis (a server, a cluster or sentinels). */
export const redisConfigured = (c: Pick<CacheConfig, 'redisUrl' | 'redisClusterNodes' | 'redisSentinels'>): boolean =>
  c.redisUrl !== undefined || c.redisClusterNodes.length > 0 || c.redisSentinels.length > 0;

/** The Redis options as createCache takes them, named by their variables (for the topology rules). */
export const redisOptionNames = {
  url: cacheOptions.redisUrl.env,
  clusterNodes: cacheOptions.redisClusterNodes.env,
  sentinels: cacheOptions.redisSentinels.env,
  sentinelName: cacheOptions.redisSentinelName.env,
  password: cacheOptions.redisPassword.env,
  tls: cacheOptions.redisTls.env,
};

function redisLibraryOptions(c: CacheConfig) {
  return {
    ...(c.redisUrl !== undefined && { url: c.redisUrl }),
    ...(c.redisClusterNodes.length > 0 && { clusterNodes: c.redisClusterNodes }),
    ...(c.redisSentinels.length > 0 && { sentinels: c.redisSentinels }),
    ...(c.redisSentinelName !== undefined && { sentinelName: c.redisSentinelName }),
    ...(c.redisPassword !== undefined && { password: c.redisPassword }),
    tls: c.redisTls,
    keyPrefix: c.redisKeyPrefix,
    chunkSize: c.redisChunkSize,
    commandTimeout: c.redisCommandTimeout,
    maxPending: c.redisMaxPending,
  };
}

/** createCache's nested options from the flat configuration: the one place the keys are mapped. */
export function cacheLibraryOptions(c: CacheConfig) {
  const redis = redisConfigured(c);
  return {
    l1: { maxBytes: c.maxBytes, maxEntries: c.maxEntries, maxEntryBytes: c.maxEntryBytes },
    disk: !redis && c.diskEnabled ? { dir: c.dir, maxBytes: c.diskMaxBytes, maxEntries: c.diskMaxEntries } : (false as const),
    redis: redis ? redisLibraryOptions(c) : undefined,
    defaultTtl: c.defaultTtl,
    pressureShrinkRatio: c.pressureShrinkRatio,
    cleanupInterval: c.cleanupInterval,
    loaderTimeout: c.loaderTimeout,
    maxStale: c.l1MaxStale,
    generationCheckInterval: c.l1CheckInterval,
  } satisfies CacheOptions;
}
