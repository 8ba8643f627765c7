// Options of the two-tier cache (src/cache).
import { bool, bytes, duration, num, optionalUrl, str } from '../options.js';

export const cacheOptions = {
  maxBytes: bytes({ env: 'CACHE_MAX_BYTES', doc: 'Byte budget of the in-process L1 cache (keys, values and per-entry overhead).', default: 64 * 1024 ** 2, min: 0, max: 2 ** 40 }),
  maxEntries: num({ env: 'CACHE_MAX_ENTRIES', doc: 'Most entries L1 holds, whatever their size.', default: 10_000, min: 1, max: 10_000_000, integer: true }),
  maxEntryBytes: bytes({ env: 'CACHE_MAX_ENTRY_BYTES', doc: 'Values larger than this skip L1 and live only in L2.', default: 8 * 1024 ** 2, min: 0, max: 2 ** 40 }),
  defaultTtl: duration({ env: 'CACHE_DEFAULT_TTL', doc: 'TTL of entries set without one.', default: 300_000, min: 1, max: 365 * 24 * 3_600_000 }),
  diskEnabled: bool({ env: 'CACHE_DISK_ENABLED', doc: 'Use the embedded disk store as L2 when REDIS_URL is not set.', default: true }),
  dir: str({ env: 'CACHE_DIR', doc: 'Directory of the disk L2 store. Must be new or empty on first use (headroom then writes a .headroom-disk-cache marker in it); a non-empty directory without the marker stops start-up. Only files named like cache files are ever deleted in it.', default: './.headroom-cache', maxLength: 4096 }),
  diskMaxBytes: bytes({ env: 'CACHE_DISK_MAX_BYTES', doc: 'Byte cap of the disk L2 store; least recently used files go first.', default: 1024 ** 3, min: 1024 * 1024, max: 2 ** 50 }),
  redisUrl: optionalUrl({ env: 'REDIS_URL', doc: 'Redis for a shared L2 and the invalidation bus between instances (replaces the disk L2).', default: undefined, protocols: ['redis:', 'rediss:'], allowUserinfo: true, secret: true }),
  pressureShrinkRatio: num({ env: 'CACHE_PRESSURE_SHRINK_RATIO', doc: 'On memory warning L1 shrinks to this fraction of its budget; on critical it empties.', default: 0.5, min: 0, max: 1 }),
  loaderTimeout: duration({ env: 'CACHE_LOADER_TIMEOUT', doc: 'Default time a getOrSet loader may take before callers get HEADROOM_CACHE_LOADER_TIMEOUT (the value is then not cached).', default: 10_000, min: 1, max: 600_000 }),
  diskMaxEntries: num({ env: 'CACHE_DISK_MAX_ENTRIES', doc: 'Most files the disk L2 tracks (bounds its in-memory index, about 200 bytes a file); least recently used files go first.', default: 100_000, min: 1, max: 10_000_000, integer: true }),
  redisKeyPrefix: str({ env: 'CACHE_REDIS_KEY_PREFIX', doc: 'Prefix of every Redis key and of the bus channel; instances that share a cache use the same prefix.', default: 'headroom:', maxLength: 128, pattern: /^[\x21-\x7e]*$/, accepted: 'must be at most 128 printable ASCII characters without spaces' }),
  redisChunkSize: bytes({ env: 'CACHE_REDIS_CHUNK_SIZE', doc: 'Values larger than this are stored in Redis as chunks of this size and streamed back.', default: 512 * 1024, min: 16 * 1024, max: 64 * 1024 ** 2 }),
  cleanupInterval: duration({ env: 'CACHE_CLEANUP_INTERVAL', doc: 'How often expired entries are swept.', default: 60_000, min: 1000, max: 24 * 3_600_000 }),
} as const;
