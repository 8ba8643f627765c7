// The cache's options, declared once: default, bound and doc line of each library option, grouped
// as createCache takes them (l1, disk, redis, top level). The gateway's flat CACHE_* configuration
// (src/config/sections/cache.ts) wraps these very objects, so the two cannot drift. Options without
// a variable (breakDuration, monitor, logger, busFaults, disk.maxGetBytes) are library-only.
import type { Logger } from 'pino';
import { HeadroomError } from '../errors.js';
import type { PressureSource } from '../monitor/types.js';
import type { BusFaults } from './bus-stats.js';
import {
  bytes,
  duration,
  formatBytes,
  num,
  optionalBytes,
  optionalStr,
  list,
  bool,
  memoryMonitor,
  optionalObject,
  optionalUrl,
  optionsPlace,
  resolveOptions,
  unknownOptionProblem,
  str,
  type OptionSpec,
  type OptionsPlace,
  type SpecValues,
  VISIBLE_ASCII,
} from '../options/spec.js';
import { MAX_GET_BYTES } from './stores/types.js';
import type { CacheOptions } from './types.js';

/** l1.maxEntryBytes when not given: this, or l1.maxBytes when smaller. */
export const DEFAULT_MAX_ENTRY_BYTES = 8 * 1024 ** 2;
/** Largest redis.chunkSize: a frame (one string key) never holds a longer payload. */
export const MAX_REDIS_CHUNK_SIZE = 64 * 1024 ** 2;
/** l1.maxBytes when not given and no memory limit is known. */
export const DEFAULT_L1_BYTES = 64 * 1024 ** 2;
/** With a memory limit known, l1.maxBytes when not given is at most this share of it… */
const L1_SHARE_OF_LIMIT = 8;
/** …and at least this. */
const MIN_SIZED_L1_BYTES = 4 * 1024 ** 2;

/**
 * l1.maxBytes when not given: 64 MiB, or an eighth of the memory limit (the monitor's: its RSS
 * limit or the container's) when that is smaller, so that the cache's default fits a small pod
 * (a 256 MiB one gets 32 MiB); never below 4 MiB, and never below a maxEntryBytes that was given
 * (with or without a limit: the value it lets into L1 must fit there).
 */
export function defaultL1Bytes(memoryLimit: number | null | undefined, maxEntryBytes?: number): number {
  if (!memoryLimit || !Number.isFinite(memoryLimit)) return Math.max(DEFAULT_L1_BYTES, maxEntryBytes ?? 0);
  const share = Math.floor(memoryLimit / L1_SHARE_OF_LIMIT);
  return Math.max(MIN_SIZED_L1_BYTES, maxEntryBytes ?? 0, Math.min(DEFAULT_L1_BYTES, share));
}

export const l1Specs = {
  maxBytes: optionalBytes({
    env: 'CACHE_MAX_BYTES',
    doc: "Byte budget of the in-process L1 cache (keys, values, tags and per-entry overhead). When not given and the memory monitor knows a limit (MEMORY_RSS_LIMIT or the container's), an eighth of that limit if it is less than 64 MiB, at least 4 MiB (a 256 MiB pod gets 32 MiB); never less than CACHE_MAX_ENTRY_BYTES when that is given.",
    default: undefined,
    defaultText: `${formatBytes(DEFAULT_L1_BYTES)}, or an eighth of the memory limit if smaller`,
    min: 0,
    max: 2 ** 40,
  }),
  maxEntries: num({
    env: 'CACHE_MAX_ENTRIES',
    doc: 'Most entries L1 holds, whatever their size.',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    integer: true,
  }),
  maxEntryBytes: optionalBytes({
    env: 'CACHE_MAX_ENTRY_BYTES',
    doc: 'Values larger than this skip L1 and live only in L2. Must not exceed CACHE_MAX_BYTES.',
    default: undefined,
    defaultText: `${formatBytes(DEFAULT_MAX_ENTRY_BYTES)}, or CACHE_MAX_BYTES if smaller`,
    min: 0,
    max: 2 ** 40,
  }),
};

export const diskSpecs = {
  dir: str({
    env: 'CACHE_DIR',
    doc: 'Directory of the disk L2 store. Must be new or empty on first use (headroom then writes a .headroom-disk-cache marker in it); a non-empty directory without the marker stops start-up, unless all it holds is cache files (its marker lost when the directory was made again under a running cache). Only files named like cache files are ever deleted in it.',
    default: './.headroom-cache',
    maxLength: 4096,
    pattern: /./,
    accepted: 'must be a path of 1 to 4096 characters',
  }),
  maxBytes: bytes({
    env: 'CACHE_DISK_MAX_BYTES',
    doc: 'Byte cap of the disk L2 store, counting the disk its files take (whole 4 KiB blocks); least recently used files go first.',
    default: 1024 ** 3,
    min: 1024 * 1024,
    max: 2 ** 50,
  }),
  maxEntries: num({
    env: 'CACHE_DISK_MAX_ENTRIES',
    doc: 'Most files the disk L2 tracks (bounds its in-memory index, about 200 bytes a file); least recently used files go first.',
    default: 100_000,
    min: 1,
    max: 10_000_000,
    integer: true,
  }),
  maxGetBytes: bytes({
    doc: 'Largest value get() reads from disk into memory; a larger one is a miss for get() and is read with getStream().',
    default: MAX_GET_BYTES,
    min: 1024,
    max: 1024 ** 3,
  }),
};

/** host:port (a name, an IPv4 address or a bracketed IPv6 address; port 1–65535), as the topology lists take them. */
const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

/** A list of host:port addresses (REDIS_CLUSTER_NODES, REDIS_SENTINELS). */
function hostPorts(c: { env: string; doc: string }): OptionSpec<string[]> {
  const base = list({ ...c, default: [], maxItems: 64, itemText: 'host:port addresses (port 1 to 65535)' });
  const ok = (s: string): boolean => {
    const port = Number(HOST_PORT.exec(s)?.[1] ?? 0);
    return port >= 1 && port <= 65535;
  };
  return {
    ...base,
    parse: (raw) => {
      const v = base.parse(raw);
      return Array.isArray(v) && !v.every(ok) ? undefined : v;
    },
  };
}

export const redisSpecs = {
  url: optionalUrl({
    env: 'REDIS_URL',
    doc: 'Redis for a shared L2 and the invalidation bus between instances (replaces the disk L2). One server; for a cluster or Sentinel use REDIS_CLUSTER_NODES or REDIS_SENTINELS instead.',
    default: undefined,
    protocols: ['redis:', 'rediss:'],
    allowUserinfo: true,
    secret: true,
  }),
  clusterNodes: hostPorts({
    env: 'REDIS_CLUSTER_NODES',
    doc: 'Redis Cluster: some of its nodes (host:port,…), from which the client learns the rest. Instead of REDIS_URL. The cache keeps its keys in one hash slot (the key prefix in braces), so it lives on one shard.',
  }),
  sentinels: hostPorts({
    env: 'REDIS_SENTINELS',
    doc: 'Redis Sentinel: the sentinels (host:port,…) that name the current master of REDIS_SENTINEL_NAME. Instead of REDIS_URL.',
  }),
  sentinelName: optionalStr({
    env: 'REDIS_SENTINEL_NAME',
    doc: 'Name of the master set the sentinels watch (their `sentinel monitor` name); required with REDIS_SENTINELS.',
    default: undefined,
    maxLength: 256,
  }),
  password: optionalStr({
    env: 'REDIS_PASSWORD',
    doc: 'Password of the Redis servers (cluster nodes, or the master and replicas behind Sentinel). With REDIS_URL, put it in the URL instead.',
    default: undefined,
    maxLength: 4096,
    secret: true,
  }),
  tls: bool({
    env: 'REDIS_TLS',
    doc: 'Talk TLS to the cluster nodes, or to the sentinels and the master. With REDIS_URL, use a rediss:// URL instead.',
    default: false,
  }),
  keyPrefix: str({
    env: 'CACHE_REDIS_KEY_PREFIX',
    doc: 'Prefix of every Redis key and of the bus channel; instances that share a cache use the same prefix.',
    default: 'headroom:',
    maxLength: 128,
    pattern: VISIBLE_ASCII,
    accepted:
      "must be 1 to 128 printable ASCII characters without spaces (not empty: it tells the cache's keys from every other key in the database)",
  }),
  chunkSize: bytes({
    env: 'CACHE_REDIS_CHUNK_SIZE',
    doc: 'Values larger than this are stored in Redis as chunks of this size and streamed back.',
    default: 512 * 1024,
    min: 16 * 1024,
    max: MAX_REDIS_CHUNK_SIZE,
  }),
  commandTimeout: duration({
    env: 'CACHE_REDIS_COMMAND_TIMEOUT',
    doc: 'Longest a cache call waits on Redis (each command, a whole store call, and the first connection); past it the call is served from L1 as if Redis were down.',
    default: 1000,
    min: 1,
    max: 600_000,
  }),
  maxPending: num({
    env: 'CACHE_REDIS_MAX_PENDING',
    doc: 'Most Redis commands a cache has in flight at once; a call over the cap skips Redis at once (served from L1, counted as refused).',
    default: 1000,
    min: 1,
    max: 100_000,
    integer: true,
  }),
};

/** The Redis topology a redis options group chose. */
export type RedisTopology = 'single' | 'cluster' | 'sentinel';

/** What the topology rules look at; `names` says how to name each option (library path or variable). */
export interface TopologyInput {
  url: string | undefined;
  clusterNodes: string[];
  sentinels: string[];
  sentinelName: string | undefined;
  password: string | undefined;
  tls: boolean;
}

/**
 * The rules between the Redis options (library and configuration): exactly one topology, a
 * sentinel name with sentinels only, no password or TLS twice.
 */
export function redisTopologyProblems(v: TopologyInput, names: Record<keyof TopologyInput, string>): { name: string; message: string }[] {
  const problems: { name: string; message: string }[] = [];
  const chosen = [
    v.url !== undefined && names.url,
    v.clusterNodes.length > 0 && names.clusterNodes,
    v.sentinels.length > 0 && names.sentinels,
  ].filter((x): x is string => typeof x === 'string');
  if (chosen.length > 1)
    problems.push({
      name: chosen[1]!,
      message: `set one Redis topology only: ${chosen.join(' and ')} are both set (a server, a cluster or Sentinel)`,
    });
  if (v.sentinels.length > 0 && v.sentinelName === undefined)
    problems.push({
      name: names.sentinelName,
      message: `is required with ${names.sentinels} (the master set's name in the sentinels' configuration)`,
    });
  if (v.sentinels.length === 0 && v.sentinelName !== undefined)
    problems.push({ name: names.sentinelName, message: `is only used with ${names.sentinels}` });
  if (v.url !== undefined) {
    const u = URL.canParse(v.url) ? new URL(v.url) : undefined;
    if (v.password !== undefined && u?.password)
      problems.push({ name: names.password, message: `is set twice: ${names.url} carries a password too; keep one` });
    if (v.tls && u?.protocol === 'redis:') problems.push({ name: names.tls, message: `with ${names.url}: use a rediss:// URL for TLS` });
  }
  return problems;
}

/** What every Redis key of a cache starts with: on a cluster the prefix as a hash tag, so all of them share one slot. */
export function keyPrefixOf(v: { keyPrefix: string; clusterNodes: string[] }): string {
  return v.clusterNodes.length > 0 ? `{${v.keyPrefix}}` : v.keyPrefix;
}

/** The topology of resolved Redis options (the rules above hold). */
export function redisTopology(v: { clusterNodes: string[]; sentinels: string[] }): RedisTopology {
  return v.clusterNodes.length > 0 ? 'cluster' : v.sentinels.length > 0 ? 'sentinel' : 'single';
}

export const cacheSpecs = {
  defaultTtl: duration({
    env: 'CACHE_DEFAULT_TTL',
    doc: 'TTL of entries set without one.',
    default: 300_000,
    min: 1,
    max: 365 * 24 * 3_600_000,
  }),
  pressureShrinkRatio: num({
    env: 'CACHE_PRESSURE_SHRINK_RATIO',
    doc: 'On memory warning L1 shrinks to this fraction of its budget; on critical it empties.',
    default: 0.5,
    min: 0,
    max: 1,
  }),
  loaderTimeout: duration({
    env: 'CACHE_LOADER_TIMEOUT',
    doc: 'Default time a getOrSet loader may take before callers get HEADROOM_CACHE_LOADER_TIMEOUT (the value is then not cached).',
    default: 10_000,
    min: 1,
    max: 600_000,
  }),
  cleanupInterval: duration({
    env: 'CACHE_CLEANUP_INTERVAL',
    doc: 'How often expired entries are swept.',
    default: 60_000,
    min: 1000,
    max: 24 * 3_600_000,
  }),
  maxStale: duration({
    env: 'CACHE_L1_MAX_STALE',
    doc: 'With REDIS_URL: longest an instance serves an L1 copy before reading it from Redis again, whatever its TTL. Bounds how long an instance can serve a value another instance deleted, replaced or invalidated when the invalidation message was lost (Redis pub/sub is at-most-once). Each L1 entry in use costs one Redis read per this period.',
    default: 10_000,
    min: 100,
    max: 3_600_000,
  }),
  generationCheckInterval: duration({
    env: 'CACHE_L1_CHECK_INTERVAL',
    doc: 'With REDIS_URL: an instance asks Redis whether a tag (or everything) it serves from L1 was invalidated at most this often per tag, in one batched read. Bounds staleness after a lost tag invalidation or clear (keep it below CACHE_L1_MAX_STALE).',
    default: 500,
    min: 10,
    max: 3_600_000,
  }),
  breakDuration: duration({
    doc: 'After an L2 failure, L2 is skipped this long (circuit breaker) or until the store is ready again.',
    default: 2000,
    min: 0,
    max: 3_600_000,
  }),
  monitor: memoryMonitor<PressureSource>('Memory monitor: L1 shrinks on warning and empties on critical (pressureShrinkRatio).'),
  logger: optionalObject<Logger>({
    doc: 'Where L2 failures and failed background refreshes are logged (warn).',
    what: 'a logger',
    methods: ['warn'],
  }),
  busFaults: optionalObject<BusFaults>({
    doc: 'Tests and benchmarks only: loses incoming invalidation bus messages on purpose (dropIncoming() returning true drops one).',
    what: 'a fault injector',
    methods: ['dropIncoming'],
  }),
};

/**
 * The rule between the L1 sizes (config and library): a message when maxEntryBytes exceeds maxBytes
 * (a maxBytes not given is sized to hold it).
 */
export function maxEntryBytesProblem(
  maxBytes: number | undefined,
  maxEntryBytes: number | undefined,
  maxBytesName: string,
): string | undefined {
  return maxEntryBytes !== undefined && maxBytes !== undefined && maxBytes > 0 && maxEntryBytes > maxBytes
    ? `must not exceed ${maxBytesName} (${formatBytes(maxBytes)})`
    : undefined;
}

type Specs = Record<string, OptionSpec<unknown>>;
type Group = 'l1' | 'disk' | 'redis';
export type L1Values = Omit<SpecValues<typeof l1Specs>, 'maxBytes' | 'maxEntryBytes'> & {
  maxBytes: number;
  maxEntryBytes: number;
  defaultTtl: number;
};
export type DiskValues = SpecValues<typeof diskSpecs>;
export type RedisValues = SpecValues<typeof redisSpecs>;

export interface ResolvedCacheOptions extends SpecValues<typeof cacheSpecs> {
  l1: L1Values;
  disk: DiskValues | undefined;
  redis: RedisValues | undefined;
}

const SHAPES: Record<Group, string> = {
  l1: 'must be an options object ({ maxBytes?, maxEntries?, maxEntryBytes? })',
  disk: 'must be an options object ({ dir?, maxBytes?, maxEntries?, maxGetBytes? }) or false',
  redis:
    'must be an options object ({ url | clusterNodes | sentinels and sentinelName, password?, tls?, keyPrefix?, chunkSize?, commandTimeout?, maxPending? }), null or undefined',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
// A string where an options group belongs may be a Redis URL with a password: it is not shown.
const show = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'function'
        ? 'a function'
        : typeof v === 'string'
          ? 'a string'
          : String(v);

/** One options group: its name ('' for the top level), specs, the object given and the other keys it takes. */
type GroupInput = [name: string, specs: Specs, given: Record<string, unknown>, known?: readonly string[]];

/**
 * Checks option groups of one factory together (the top level is the group named ''): a nested
 * option is named `group.key` (after the path of the whole object when another part handed it on),
 * and every bad value and unknown key, plus the `problems` found before and the L1 sizes rule (l1
 * options of group `l1Group`), lands in one HEADROOM_CONFIG_INVALID. Returns the parsed values by
 * `group.key` (without the path).
 */
function resolveGroups(at: OptionsPlace, groups: GroupInput[], problems: string[], l1Group?: string): Record<string, unknown> {
  const specs: Specs = {};
  const input: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [name, groupSpecs, given, known = []] of groups) {
    const prefix = name ? `${name}.` : '';
    for (const [key, spec] of Object.entries(groupSpecs)) {
      specs[prefix + key] = spec;
      input[prefix + key] = given[key];
    }
    const accepted = [...Object.keys(groupSpecs), ...known];
    for (const key of Object.keys(given)) {
      if (!Object.hasOwn(groupSpecs, key) && !known.includes(key))
        unknown.push(unknownOptionProblem(`${at.prefix}${prefix}${key}`, key, accepted));
    }
  }
  problems.push(...unknown);
  let values: Record<string, unknown>;
  try {
    values = resolveOptions(at.factory, withPrefix(specs, at.prefix), withPrefix(input, at.prefix));
  } catch (err) {
    if (problems.length === 0 || !(err instanceof HeadroomError)) throw err;
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${err.message}; ${problems.join('; ')}`);
  }
  values = Object.fromEntries(Object.entries(values).map(([k, v]) => [k.slice(at.prefix.length), v]));
  if (l1Group !== undefined) problems.push(...l1Problems(values, l1Group, at.prefix));
  if (Object.hasOwn(values, 'redis.url')) problems.push(...topologyProblems(values, at.prefix));
  if (problems.length > 0) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${at.factory}: ${problems.join('; ')}`);
  return values;
}

const withPrefix = <T>(o: Record<string, T>, prefix: string): Record<string, T> =>
  prefix ? Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v])) : o;

function l1Problems(v: Record<string, unknown>, group: string, path: string): string[] {
  const prefix = `${path}${group ? `${group}.` : ''}`;
  const own = group ? `${group}.` : '';
  const given = v[`${own}maxEntryBytes`] as number | undefined;
  const problem = maxEntryBytesProblem(v[`${own}maxBytes`] as number | undefined, given, `${prefix}maxBytes`);
  return problem ? [`${prefix}maxEntryBytes=${String(given)}: ${problem}`] : [];
}

function topologyProblems(v: Record<string, unknown>, path: string): string[] {
  const own = pick(v, 'redis', redisSpecs);
  const names = Object.fromEntries(Object.keys(redisSpecs).map((k) => [k, `${path}redis.${k}`])) as Record<keyof TopologyInput, string>;
  return redisTopologyProblems(own, names).map((p) => `${p.name}: ${p.message}`);
}

/** A group's object, or {} and a problem when it is not one (a Redis group also needs its url). */
function groupInput(name: Group, v: unknown, problems: string[], path = ''): Record<string, unknown> {
  if (!isObject(v)) {
    problems.push(`${path}${name}=${show(v)}: ${SHAPES[name]}`);
    return {};
  }
  if (name !== 'redis') return v;
  // An empty list names no topology (ioredis would quietly connect to 127.0.0.1:6379); beside a url it is the unset default.
  const listed = (k: 'clusterNodes' | 'sentinels'): boolean => (Array.isArray(v[k]) ? v[k].length > 0 : v[k] !== undefined);
  if (v.url !== undefined || listed('clusterNodes') || listed('sentinels')) return v;
  const empty = (['clusterNodes', 'sentinels'] as const).filter((k) => Array.isArray(v[k]));
  for (const list of empty) problems.push(`${path}redis.${list}=[]: must list at least one host:port`);
  if (empty.length === 0)
    problems.push(`${path}redis: needs url (one server), clusterNodes (a cluster) or sentinels and sentinelName (Sentinel)`);
  return v;
}

function pick<S extends Specs>(values: Record<string, unknown>, prefix: string, specs: S): SpecValues<S> {
  return Object.fromEntries(Object.keys(specs).map((k) => [k, values[prefix ? `${prefix}.${k}` : k]])) as SpecValues<S>;
}

function optionsObject(at: OptionsPlace, given: unknown): Record<string, unknown> {
  if (given === undefined) return {};
  if (!isObject(given))
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${at.factory}: ${at.prefix ? at.prefix.slice(0, -1) : 'options'} must be an object`,
    );
  return given;
}

function l1Values(v: SpecValues<typeof l1Specs>, defaultTtl: number, memoryLimit: number | null | undefined): L1Values {
  const maxBytes = v.maxBytes ?? defaultL1Bytes(memoryLimit, v.maxEntryBytes);
  return { ...v, maxBytes, maxEntryBytes: v.maxEntryBytes ?? Math.min(DEFAULT_MAX_ENTRY_BYTES, maxBytes), defaultTtl };
}

/** createCache's options with every default filled in; one HEADROOM_CONFIG_INVALID naming each bad option. */
export function resolveCacheOptions(given: CacheOptions | undefined): ResolvedCacheOptions {
  const at = optionsPlace('createCache', given);
  const o = optionsObject(at, given);
  const problems: string[] = [];
  const groups: GroupInput[] = [
    ['', cacheSpecs, o, ['l1', 'disk', 'redis']],
    ['l1', l1Specs, groupInput('l1', o.l1 ?? {}, problems, at.prefix)],
  ];
  // No disk store with disk undefined or false, no Redis with redis undefined or null.
  const disk = o.disk !== undefined && o.disk !== false;
  const redis = o.redis !== undefined && o.redis !== null;
  if (disk) groups.push(['disk', diskSpecs, groupInput('disk', o.disk, problems, at.prefix)]);
  if (redis) groups.push(['redis', redisSpecs, groupInput('redis', o.redis, problems, at.prefix)]);
  const values = resolveGroups(at, groups, problems, 'l1');
  const top = pick(values, '', cacheSpecs);
  // The monitor's limit sizes an L1 whose maxBytes is not given (read once, here).
  const memoryLimit = top.monitor?.current?.()?.rssLimit;
  return {
    ...top,
    l1: l1Values(pick(values, 'l1', l1Specs), top.defaultTtl, memoryLimit),
    disk: disk ? pick(values, 'disk', diskSpecs) : undefined,
    redis: redis ? (pick(values, 'redis', redisSpecs) as RedisValues) : undefined,
  };
}

/** createL1's options (the l1 sizes and defaultTtl, flat); one HEADROOM_CONFIG_INVALID naming each bad option. */
export function resolveL1Options(given: Partial<L1Values> | undefined): L1Values {
  const at = optionsPlace('createL1', given);
  const o = optionsObject(at, given);
  const values = resolveGroups(at, [['', { ...l1Specs, defaultTtl: cacheSpecs.defaultTtl }, o]], [], '');
  return l1Values(pick(values, '', l1Specs), values.defaultTtl as number, null);
}

/**
 * A store's options as createCache names them (disk.*, redis.*). The cache has checked them up
 * front; a store resolves what it is given again so that it holds no default of its own.
 */
export function resolveStoreOptions(name: 'disk', given: unknown): DiskValues;
export function resolveStoreOptions(name: 'redis', given: unknown): RedisValues;
export function resolveStoreOptions(name: 'disk' | 'redis', given: unknown): DiskValues | RedisValues {
  const specs = name === 'disk' ? diskSpecs : redisSpecs;
  const problems: string[] = [];
  const input = groupInput(name, given, problems);
  // The cache hands the Redis store a callback for its first connection, and its logger's warn.
  const known = name === 'redis' ? ['onReady', 'onWarn'] : [];
  return pick(resolveGroups({ factory: 'createCache', prefix: '' }, [[name, specs, input, known]], problems), name, specs) as
    DiskValues | RedisValues;
}
