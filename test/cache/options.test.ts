// The cache's options have one home: every CACHE_* variable is the very spec object of one of
// createCache's (nested) library options, so defaults and bounds cannot drift; and createCache and
// createL1 refuse bad arguments up front with one HEADROOM_CONFIG_INVALID naming the library option.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createCache, createL1, type CacheOptions } from '../../src/cache/index.js';
import {
  cacheSpecs,
  DEFAULT_L1_BYTES,
  DEFAULT_MAX_ENTRY_BYTES,
  diskSpecs,
  l1Specs,
  redisSpecs,
  resolveCacheOptions,
} from '../../src/cache/options.js';
import type { TieredCache } from '../../src/cache/tiered.js';
import { loadConfig } from '../../src/config/load.js';
import { option } from '../../src/config/options.js';
import { sections } from '../../src/config/schema.js';
import { cacheLibraryOptions } from '../../src/config/sections/cache.js';
import { HeadroomError } from '../../src/errors.js';
import type { OptionSpec } from '../../src/options/spec.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const root = mkdtempSync(join(tmpdir(), 'headroom-cache-options-'));
after(() => rmSync(root, { recursive: true, force: true }));

// Compile-time: every spec is an option of the same name in CacheOptions (or its nested objects).
type Missing<S, O> = Exclude<keyof S, keyof NonNullable<O>>;
const allDeclared: [
  | Missing<typeof cacheSpecs, CacheOptions>
  | Missing<typeof l1Specs, CacheOptions['l1']>
  | Missing<typeof diskSpecs, Exclude<CacheOptions['disk'], false>>
  | Missing<typeof redisSpecs, CacheOptions['redis']>,
] extends [never]
  ? true
  : false = true;

const groups = { '': cacheSpecs, l1: l1Specs, disk: diskSpecs, redis: redisSpecs } as Record<string, Record<string, OptionSpec<unknown>>>;
const specAt = (path: string): OptionSpec<unknown> => {
  const [group, key] = path.includes('.') ? path.split('.') : ['', path];
  return groups[group!]![key!]!;
};
const valueAt = (o: object, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);

// Config key → library option, with a value other than the default to follow through the mapping.
const mapped: Record<string, [path: string, env: string, value: unknown]> = {
  maxBytes: ['l1.maxBytes', '32MiB', 32 * 1024 ** 2],
  maxEntries: ['l1.maxEntries', '500', 500],
  maxEntryBytes: ['l1.maxEntryBytes', '1MiB', 1024 ** 2],
  defaultTtl: ['defaultTtl', '2m', 120_000],
  dir: ['disk.dir', '/var/cache/app', '/var/cache/app'],
  diskMaxBytes: ['disk.maxBytes', '2GiB', 2 * 1024 ** 3],
  redisUrl: ['redis.url', 'redis://cache.internal:6390/2', 'redis://cache.internal:6390/2'],
  pressureShrinkRatio: ['pressureShrinkRatio', '0.25', 0.25],
  loaderTimeout: ['loaderTimeout', '5s', 5000],
  diskMaxEntries: ['disk.maxEntries', '5000', 5000],
  redisKeyPrefix: ['redis.keyPrefix', 'app:', 'app:'],
  redisChunkSize: ['redis.chunkSize', '1MiB', 1024 ** 2],
  redisCommandTimeout: ['redis.commandTimeout', '250ms', 250],
  redisMaxPending: ['redis.maxPending', '64', 64],
  // One topology at a time: these are followed through in an environment of their own (below).
  redisClusterNodes: ['redis.clusterNodes', '10.0.0.1:7000, 10.0.0.2:7000', ['10.0.0.1:7000', '10.0.0.2:7000']],
  redisSentinels: ['redis.sentinels', 's1:26379,[::1]:26380', ['s1:26379', '[::1]:26380']],
  redisSentinelName: ['redis.sentinelName', 'cache', 'cache'],
  redisPassword: ['redis.password', 'pw', 'pw'],
  redisTls: ['redis.tls', 'true', true],
  cleanupInterval: ['cleanupInterval', '30s', 30_000],
  l1MaxStale: ['maxStale', '2s', 2000],
  l1CheckInterval: ['generationCheckInterval', '250ms', 250],
};
const gatewayOnly = ['diskEnabled'];
const libraryOnly = ['breakDuration', 'monitor', 'logger', 'busFaults', 'disk.maxGetBytes'];
/** Variables of the other topologies than REDIS_URL's, each given with the ones it needs. */
const topologies: string[][] = [
  ['redisClusterNodes', 'redisPassword', 'redisTls'],
  ['redisSentinels', 'redisSentinelName'],
];

describe('cache options: one home', () => {
  test('each CACHE_* option wraps the very spec object of the library option it maps to', () => {
    assert.equal(allDeclared, true);
    assert.deepEqual(Object.keys(sections.cache).sort(), [...Object.keys(mapped), ...gatewayOnly].sort());
    for (const [key, [path]] of Object.entries(mapped)) {
      const option = (sections.cache as unknown as Record<string, Record<string, unknown>>)[key]!;
      for (const [field, value] of Object.entries(specAt(path))) assert.ok(Object.is(option[field], value), `${key} → ${path}: ${field}`);
    }
    // Every library option with a variable is in the configuration once; the others have none.
    const withEnv = Object.entries(groups).flatMap(([g, specs]) =>
      Object.entries(specs)
        .filter(([, s]) => s.env)
        .map(([k]) => (g ? `${g}.${k}` : k)),
    );
    assert.deepEqual(
      withEnv.sort(),
      Object.values(mapped)
        .map(([path]) => path)
        .sort(),
    );
    for (const path of libraryOnly) {
      assert.equal(specAt(path).env, undefined, path);
      assert.throws(
        () => option(specAt(path)),
        /library-only option \(no env\) cannot be configured/,
        `${path} cannot become a configuration option`,
      );
    }
  });

  test('docs/cache.md lists every option as declared', () => {
    const doc = readFileSync(new URL('../../docs/cache.md', import.meta.url), 'utf8');
    for (const [path] of Object.values(mapped)) {
      const [group, key] = path.includes('.') ? path.split('.') : [undefined, path];
      const row = `| \`${specAt(path).env}\` | \`createCache({ ${group ? `${group}: { ${key} } ` : `${key} `}})\``;
      assert.ok(doc.includes(row), `missing or stale row: ${row}`);
    }
    for (const path of libraryOnly) {
      const s = specAt(path);
      const row = `| \`${path}\` | ${s.defaultText} | ${s.accepted} | ${s.doc} |`;
      assert.ok(doc.includes(row), `missing or stale row: ${row}`);
    }
  });

  test('the gateway hands every variable to the library option it wraps', () => {
    const envOf = (keys: string[]) => Object.fromEntries(keys.map((k) => [specAt(mapped[k]![0]).env!, mapped[k]![1]]));
    const other = topologies.flat();
    const env = envOf(Object.keys(mapped).filter((k) => !other.includes(k)));
    const onDisk = loadConfig({ env: { ...env, REDIS_URL: '' } }).config.cache;
    const onRedis = loadConfig({ env }).config.cache;
    const configs: [string[], typeof onRedis][] = topologies.map((keys) => [
      keys,
      loadConfig({ env: { ...env, REDIS_URL: '', ...envOf(keys) } }).config.cache,
    ]);
    for (const [key, [path, , value]] of Object.entries(mapped)) {
      const config = configs.find(([keys]) => keys.includes(key))?.[1] ?? (path.startsWith('redis.') ? onRedis : onDisk);
      assert.deepEqual(config[key as keyof typeof config], value, `config ${key}`);
      assert.deepEqual(valueAt(resolveCacheOptions(cacheLibraryOptions(config)), path), value, `createCache ${path}`);
    }
    for (const [, config] of configs)
      assert.equal(cacheLibraryOptions(config).disk, false, 'a cluster or Sentinel replaces the disk store');
    assert.equal(cacheLibraryOptions(onRedis).disk, false, 'Redis replaces the disk store');
    assert.equal(cacheLibraryOptions(loadConfig({ env: { CACHE_DISK_ENABLED: 'false' } }).config.cache).disk, false);
  });

  test('every default the factory uses is the configuration’s default', async () => {
    const config = loadConfig({ env: {} }).config.cache;
    const fromConfig = resolveCacheOptions(cacheLibraryOptions(config));
    const fromLibrary = resolveCacheOptions({ disk: {} });
    assert.deepEqual(fromLibrary, fromConfig, 'a default gateway and createCache({ disk: {} }) build the same cache');
    const withRedis = resolveCacheOptions({ disk: {}, redis: { url: 'redis://127.0.0.1:1' } });
    for (const [key, [path]] of Object.entries(mapped)) {
      const dflt = config[key as keyof typeof config];
      if (dflt !== undefined) assert.deepEqual(valueAt(withRedis, path), dflt, `${key} → ${path}`);
    }
    // Unset, l1.maxEntryBytes follows l1.maxBytes: 8 MiB, or maxBytes when smaller.
    assert.equal(config.maxEntryBytes, undefined);
    assert.equal(fromLibrary.l1.maxEntryBytes, DEFAULT_MAX_ENTRY_BYTES);
    assert.equal(resolveCacheOptions({ l1: { maxBytes: 1024 ** 2 } }).l1.maxEntryBytes, 1024 ** 2);
    assert.equal(
      loadConfig({ env: { CACHE_MAX_BYTES: '1MiB' } }).config.cache.maxBytes,
      1024 ** 2,
      'CACHE_MAX_BYTES alone below 8 MiB is accepted',
    );
    // And what a cache built without options runs with.
    await assertNoLeakedHandles(async () => {
      const cache = createCache() as TieredCache;
      const { l1 } = cache.stats();
      assert.equal(config.maxBytes, undefined, 'CACHE_MAX_BYTES unset: sized by the library');
      assert.equal(l1.maxBytes, DEFAULT_L1_BYTES, 'no monitor, so no memory limit: 64 MiB');
      assert.equal(l1.maxEntries, config.maxEntries);
      assert.equal(cache.l1.maxEntryBytes, DEFAULT_MAX_ENTRY_BYTES);
      assert.equal(cache.l1.defaultTtl, config.defaultTtl);
      await cache.close();
    });
  });

  test("an L1 whose maxBytes is not given is sized from the monitor's memory limit: an eighth, at most 64 MiB", async () => {
    const MiB = 1024 ** 2;
    const monitorWith = (rssLimit: number | null) => ({
      status: () => 'healthy' as const,
      onPressure: () => () => {},
      current: () => ({ rssLimit }) as ReturnType<NonNullable<NonNullable<CacheOptions['monitor']>['current']>>,
    });
    const l1Of = (o: CacheOptions) => resolveCacheOptions(o).l1;
    assert.deepEqual(l1Of({ monitor: monitorWith(256 * MiB) }), { ...l1Of({}), maxBytes: 32 * MiB, maxEntryBytes: 8 * MiB });
    assert.equal(l1Of({ monitor: monitorWith(2 * 1024 * MiB) }).maxBytes, 64 * MiB, 'a large limit keeps the 64 MiB default');
    assert.equal(l1Of({ monitor: monitorWith(null) }).maxBytes, 64 * MiB, 'no limit known: 64 MiB');
    assert.equal(
      l1Of({ monitor: { status: () => 'healthy', onPressure: () => () => {} } }).maxBytes,
      64 * MiB,
      'a monitor without current()',
    );
    const noSample = {
      status: () => 'healthy',
      onPressure: () => () => {},
      current: () => undefined,
    } as unknown as CacheOptions['monitor'];
    assert.equal(l1Of({ monitor: noSample }).maxBytes, 64 * MiB, 'a current() that gives nothing');
    const tiny = l1Of({ monitor: monitorWith(16 * MiB) });
    assert.deepEqual([tiny.maxBytes, tiny.maxEntryBytes], [4 * MiB, 4 * MiB], 'never below 4 MiB; maxEntryBytes follows it');
    assert.equal(
      l1Of({ monitor: monitorWith(64 * MiB), l1: { maxEntryBytes: 12 * MiB } }).maxBytes,
      12 * MiB,
      'holds a maxEntryBytes given',
    );
    assert.equal(l1Of({ monitor: monitorWith(256 * MiB), l1: { maxBytes: 100 * MiB } }).maxBytes, 100 * MiB, 'a maxBytes given wins');
    assert.equal(l1Of({ l1: { maxEntryBytes: 100 * MiB } }).maxBytes, 100 * MiB, 'without a limit too, it holds a maxEntryBytes given');
    // The gateway's CACHE_MAX_BYTES left unset is the same: its monitor knows MEMORY_RSS_LIMIT or the container's.
    const config = loadConfig({ env: {} }).config.cache;
    assert.equal(resolveCacheOptions({ ...cacheLibraryOptions(config), monitor: monitorWith(256 * MiB) }).l1.maxBytes, 32 * MiB);
    await assertNoLeakedHandles(async () => {
      const cache = createCache({ monitor: monitorWith(320 * MiB) }) as TieredCache;
      assert.equal(cache.stats().l1.maxBytes, 40 * MiB);
      await cache.close();
    });
  });

  test('the L1 sizes rule is the same in the config and the library, each naming its own option', () => {
    assert.throws(
      () => loadConfig({ env: { CACHE_MAX_BYTES: '1MiB', CACHE_MAX_ENTRY_BYTES: '2MiB' } }),
      (err: { problems: string[] }) => err.problems[0] === 'CACHE_MAX_ENTRY_BYTES=2MiB: must not exceed CACHE_MAX_BYTES (1 MiB)',
    );
    assert.throws(() => createCache({ l1: { maxBytes: 1024 ** 2, maxEntryBytes: 2 * 1024 ** 2 } }), {
      name: 'HeadroomError',
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createCache: l1.maxEntryBytes=2097152: must not exceed l1.maxBytes (1 MiB)',
    });
    assert.throws(() => createL1({ maxBytes: 1000, maxEntryBytes: 1001 }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: 'createL1: maxEntryBytes=1001: must not exceed maxBytes (1000 bytes)',
    });
    // maxBytes 0 turns L1 off: nothing to exceed.
    assert.equal(createL1({ maxBytes: 0, maxEntryBytes: 10 }).maxEntryBytes, 10);
  });
});

/** Asserts one HeadroomError HEADROOM_CONFIG_INVALID with exactly this message and no variable name in it. */
function refused(message: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HeadroomError, `a HeadroomError, not ${String(err)}`);
    assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
    assert.equal(err.message, message);
    assert.doesNotMatch(err.message, /CACHE_|REDIS_URL/, 'names the library option, not the variable');
    return true;
  };
}

describe('createCache refuses bad options up front', () => {
  const accepted = (path: string): string => specAt(path).accepted;
  const url = 'redis://127.0.0.1:1';
  // [option, the options given, how the message shows the value]
  const cases: [string, CacheOptions, string][] = [
    ['defaultTtl', { defaultTtl: 0 }, '0'],
    ['defaultTtl', { defaultTtl: Infinity }, 'Infinity'],
    ['defaultTtl', { defaultTtl: 1.5 }, '1.5'],
    ['pressureShrinkRatio', { pressureShrinkRatio: Number.NaN }, 'NaN'],
    ['pressureShrinkRatio', { pressureShrinkRatio: 1.5 }, '1.5'],
    ['loaderTimeout', { loaderTimeout: 0 }, '0'],
    ['loaderTimeout', { loaderTimeout: 600_001 }, '600001'],
    ['cleanupInterval', { cleanupInterval: 999 }, '999'],
    ['breakDuration', { breakDuration: -1 }, '-1'],
    ['breakDuration', { breakDuration: 3_600_001 }, '3600001'],
    ['l1.maxBytes', { l1: { maxBytes: -1 } }, '-1'],
    ['l1.maxBytes', { l1: { maxBytes: '10 parsecs' as never } }, '"10 parsecs"'],
    ['l1.maxEntries', { l1: { maxEntries: 0 } }, '0'],
    ['l1.maxEntries', { l1: { maxEntries: 1.5 } }, '1.5'],
    ['l1.maxEntryBytes', { l1: { maxEntryBytes: -1 } }, '-1'],
    ['disk.dir', { disk: { dir: '' } }, '""'],
    ['disk.dir', { disk: { dir: {} as never } }, '{}'],
    ['disk.dir', { disk: { dir: 5 as never } }, '5'], // not a folder named "5"
    ['redis.keyPrefix', { redis: { url, keyPrefix: 7 as never } }, '7'],
    ['disk.maxBytes', { disk: { dir: join(root, 'nan'), maxBytes: Number.NaN } }, 'NaN'],
    ['disk.maxBytes', { disk: { dir: join(root, 'small'), maxBytes: 1000 } }, '1000'],
    ['disk.maxEntries', { disk: { dir: join(root, 'entries'), maxEntries: 0 } }, '0'],
    ['disk.maxGetBytes', { disk: { dir: join(root, 'get'), maxGetBytes: 0 } }, '0'],
    ['redis.url', { redis: { url: '' } }, '<hidden>'],
    ['redis.url', { redis: { url: 'localhost:6379' } }, '<hidden>'],
    ['redis.url', { redis: { url: 'http://:secret@127.0.0.1:6379' } }, '<hidden>'],
    ['redis.keyPrefix', { redis: { url, keyPrefix: 'has space' } }, '"has space"'],
    ['redis.chunkSize', { redis: { url, chunkSize: 0 } }, '0'],
    ['redis.chunkSize', { redis: { url, chunkSize: 1024 } }, '1024'],
    ['redis.commandTimeout', { redis: { url, commandTimeout: Number.NaN } }, 'NaN'],
  ];
  for (const [path, options, shown] of cases) {
    test(`${path}=${shown}`, async () => {
      await assertNoLeakedHandles(async () => {
        assert.throws(() => createCache(options), refused(`createCache: ${path}=${shown}: ${accepted(path)}`));
      });
    });
  }

  test('the messages read as the option, the value and what is accepted', () => {
    assert.throws(
      () => createCache({ redis: { url, chunkSize: 0 } }),
      refused(
        'createCache: redis.chunkSize=0: must be a byte size between 16 KiB and 64 MiB (an integer, or a number with B, KB, MB, GB, KiB, MiB or GiB)',
      ),
    );
    assert.throws(
      () => createCache({ redis: { url: 'api.internal:6379' } }),
      refused('createCache: redis.url=<hidden>: must be an absolute redis or rediss URL'),
    );
    assert.throws(
      () => createCache({ defaultTtl: Infinity }),
      refused('createCache: defaultTtl=Infinity: must be a duration between 1ms and 8760h (milliseconds, or a number with ms, s, m or h)'),
    );
  });

  test('the objects handed in are checked for their shape', async () => {
    await assertNoLeakedHandles(async () => {
      const shapes: [CacheOptions, string][] = [
        [{ l1: 5 as never }, 'l1=5: must be an options object ({ maxBytes?, maxEntries?, maxEntryBytes? })'],
        [{ disk: true as never }, 'disk=true: must be an options object ({ dir?, maxBytes?, maxEntries?, maxGetBytes? }) or false'],
        [
          { redis: 'redis://:pw@127.0.0.1' as never },
          'redis=a string: must be an options object ({ url | clusterNodes | sentinels and sentinelName, password?, tls?, keyPrefix?, chunkSize?, commandTimeout?, maxPending? }), null or undefined',
        ],
        [{ redis: {} as never }, 'redis: needs url (one server), clusterNodes (a cluster) or sentinels and sentinelName (Sentinel)'],
        // An empty list is no topology (ioredis would connect to 127.0.0.1:6379 instead).
        [{ redis: { clusterNodes: [] } }, 'redis.clusterNodes=[]: must list at least one host:port'],
        [{ redis: { sentinels: [] } }, 'redis.sentinels=[]: must list at least one host:port'],
        [
          { redis: { url: 'redis://127.0.0.1', clusterNodes: ['127.0.0.1:7000'] } },
          'redis.clusterNodes: set one Redis topology only: redis.url and redis.clusterNodes are both set (a server, a cluster or Sentinel)',
        ],
        [
          { redis: { sentinels: ['127.0.0.1:26379'] } },
          "redis.sentinelName: is required with redis.sentinels (the master set's name in the sentinels' configuration)",
        ],
        [{ redis: { url: 'redis://127.0.0.1', tls: true } }, 'redis.tls: with redis.url: use a rediss:// URL for TLS'],
        [{ monitor: {} as never }, 'monitor={}: must be a memory monitor (an object with status(), onPressure())'],
        [
          { monitor: { status: 'healthy' } as never },
          'monitor={"status":"healthy"}: must be a memory monitor (an object with status(), onPressure())',
        ],
        [{ logger: 'debug' as never }, 'logger="debug": must be a logger (an object with warn())'],
      ];
      for (const [options, message] of shapes) assert.throws(() => createCache(options), refused(`createCache: ${message}`));
      assert.throws(() => createCache('fast' as never), refused('createCache: options must be an object'));
      // Unknown keys, at the top and in every group, with the closest name.
      assert.throws(
        () =>
          createCache({
            defaultTTL: 5,
            l1: { maxByte: 1 },
            disk: { directory: '/tmp/x' },
            redis: { url: 'redis://127.0.0.1', prefix: 'a:' },
          } as never),
        refused(
          'createCache: defaultTTL: unknown option; did you mean defaultTtl?; l1.maxByte: unknown option; did you mean maxBytes?; disk.directory: unknown option; redis.prefix: unknown option; did you mean keyPrefix?',
        ),
      );
    });
  });

  test('empty topology lists beside a url are the unset default (what the configuration passes)', () => {
    const o = resolveCacheOptions({ redis: { url: 'redis://127.0.0.1:6379', clusterNodes: [], sentinels: [] } });
    assert.equal(o.redis?.url, 'redis://127.0.0.1:6379');
  });
  test('every bad option is named in one error, and nothing is started or created', async () => {
    const dir = join(root, 'never');
    await assertNoLeakedHandles(async () => {
      assert.throws(
        () =>
          createCache({
            defaultTtl: 0,
            l1: { maxEntries: 0 },
            disk: { dir, maxBytes: 1 },
            redis: { url, chunkSize: 1 },
            monitor: {} as never,
          }),
        (err: Error) => {
          assert.match(
            err.message,
            /^createCache: defaultTtl=0: .*; monitor=\{\}: must be a memory monitor .*; l1\.maxEntries=0: .*; disk\.maxBytes=1: .*; redis\.chunkSize=1: /,
          );
          return true;
        },
      );
      // A good store next to a bad option: no connection, no directory, no timer.
      assert.throws(() => createCache({ redis: { url }, monitor: {} as never }), { code: 'HEADROOM_CONFIG_INVALID' });
      assert.throws(() => createCache({ disk: { dir }, cleanupInterval: 10 }), { code: 'HEADROOM_CONFIG_INVALID' });
    });
    assert.equal(existsSync(dir), false, 'the disk directory is not created');
  });

  test('good values in every accepted spelling are taken, and nothing is left running', async () => {
    await assertNoLeakedHandles(async () => {
      const cache = createCache({
        l1: { maxBytes: '32MiB' as never, maxEntries: 100 },
        disk: { dir: join(root, 'good'), maxBytes: '2MiB' as never },
        redis: null,
        defaultTtl: '5m' as never,
        cleanupInterval: '30s' as never,
        breakDuration: 0,
        pressureShrinkRatio: 0,
        logger: console as never,
      }) as TieredCache;
      assert.equal(cache.stats().l1.maxBytes, 32 * 1024 ** 2);
      assert.equal(cache.l1.defaultTtl, 300_000);
      await cache.set('k', 'v');
      assert.equal(await cache.get('k'), 'v');
      assert.equal(cache.stats().l2?.kind, 'disk');
      await cache.close();
    });
  });
});

describe('createL1 refuses bad options up front', () => {
  test('naming the option, the value and what is accepted', () => {
    assert.throws(() => createL1({ maxBytes: -1 }), refused(`createL1: maxBytes=-1: ${l1Specs.maxBytes.accepted}`));
    assert.throws(
      () => createL1({ maxEntries: 0, defaultTtl: 0 }),
      refused(`createL1: maxEntries=0: ${l1Specs.maxEntries.accepted}; defaultTtl=0: ${cacheSpecs.defaultTtl.accepted}`),
    );
    assert.throws(() => createL1(7 as never), refused('createL1: options must be an object'));
  });

  test('defaults are the cache’s', () => {
    const l1 = createL1();
    const config = loadConfig({ env: {} }).config.cache;
    assert.deepEqual(
      [l1.maxBytes, l1.maxEntries, l1.maxEntryBytes, l1.defaultTtl],
      [DEFAULT_L1_BYTES, config.maxEntries, DEFAULT_MAX_ENTRY_BYTES, config.defaultTtl],
    );
  });
});
