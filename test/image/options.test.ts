// One home per option: the IMAGE_* configuration is built from the very spec objects the image
// service validates its arguments with, so defaults and bounds cannot drift; and createImageService
// refuses bad arguments up front with one HEADROOM_CONFIG_INVALID naming the library option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.js';
import { imageOptions } from '../../src/config/sections/image.js';
import { HeadroomError } from '../../src/errors.js';
import { createImageService, type ImageServiceOptions } from '../../src/image/index.js';
import { DEFAULT_IMAGE_MEMORY_BUDGET, imageSpecs, resolveImageOptions } from '../../src/image/options.js';
import type { SpecValues } from '../../src/options/spec.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { testCache } from './fixtures.js';

// Compile-time: every option has a field of the same name and type in ImageServiceOptions, so the
// gateway can pass `...config.image` (spreads skip excess-property checks).
type Unmapped = Exclude<keyof typeof imageSpecs, keyof ImageServiceOptions>;
const allMapped: [Unmapped] extends [never] ? true : Unmapped = true;
const assignable: Omit<ImageServiceOptions, 'cache'> = {} as SpecValues<typeof imageSpecs>;

test('the configuration section uses the image service’s own option specs (identity, not copies)', () => {
  assert.equal(allMapped, true);
  assert.ok(assignable);
  assert.deepEqual(Object.keys(imageOptions), Object.keys(imageSpecs));
  for (const [key, spec] of Object.entries(imageSpecs)) {
    const option = (imageOptions as unknown as Record<string, Record<string, unknown>>)[key]!;
    for (const [field, value] of Object.entries(spec)) assert.ok(Object.is(option[field], value), `${key}.${field}`);
  }
});

test('every default the factory uses is the configuration’s default', async () => {
  const { image: config } = loadConfig({ env: {} }).config;
  const cache = testCache();
  const resolved = resolveImageOptions({ cache, allowedOrigins: [] });
  for (const key of Object.keys(imageSpecs) as (keyof typeof imageSpecs)[])
    if (key !== 'memoryBudget') assert.deepEqual(resolved[key], config[key], key);
  // IMAGE_MEMORY_BUDGET unset is sized by the library: 1 GiB without a monitor that knows a limit.
  assert.equal(config.memoryBudget, undefined);
  assert.equal(resolved.memoryBudget, DEFAULT_IMAGE_MEMORY_BUDGET);
  // And what a service built without options actually runs with.
  await assertNoLeakedHandles(async () => {
    const image = createImageService({ cache, allowedOrigins: [] });
    const { queue, encoding } = image.stats();
    assert.equal(queue.concurrency, config.concurrency);
    assert.equal(queue.queueSize, config.queueSize);
    assert.equal(queue.memoryBudget, DEFAULT_IMAGE_MEMORY_BUDGET);
    assert.equal(encoding?.concurrency, config.encodeConcurrency);
    await image.close();
    await cache.close();
  });
});

test("a memoryBudget not given is sized from the monitor's memory limit: a quarter, at most 1 GiB, at least 16 MiB", async () => {
  const MiB = 1024 ** 2;
  const cache = testCache();
  const monitorWith = (rssLimit: number | null) =>
    ({ status: () => 'healthy', current: () => ({ rssLimit }) }) as unknown as NonNullable<ImageServiceOptions['monitor']>;
  const budget = (o: Partial<ImageServiceOptions>): number => resolveImageOptions({ cache, allowedOrigins: [], ...o }).memoryBudget;
  assert.equal(budget({ monitor: monitorWith(256 * MiB) }), 64 * MiB, 'a 256 MiB pod');
  assert.equal(budget({ monitor: monitorWith(8 * 1024 * MiB) }), 1024 * MiB, 'a large limit keeps the 1 GiB default');
  assert.equal(budget({ monitor: monitorWith(null) }), 1024 * MiB, 'no limit known');
  assert.equal(budget({ monitor: { status: () => 'healthy' } as unknown as ImageServiceOptions['monitor'] }), 1024 * MiB, 'no current()');
  assert.equal(budget({ monitor: monitorWith(32 * MiB) }), 16 * MiB, 'never below 16 MiB');
  const noSample = { status: () => 'healthy', current: () => undefined } as unknown as ImageServiceOptions['monitor'];
  assert.equal(budget({ monitor: noSample }), 1024 * MiB, 'a current() that gives nothing');
  assert.equal(budget({ monitor: monitorWith(256 * MiB), memoryBudget: 200 * MiB }), 200 * MiB, 'a budget given wins');
  // The gateway's IMAGE_MEMORY_BUDGET left unset is the same.
  const { image: config } = loadConfig({ env: {} }).config;
  assert.equal(resolveImageOptions({ ...config, cache, monitor: monitorWith(256 * MiB) }).memoryBudget, 64 * MiB);
  await assertNoLeakedHandles(async () => {
    const image = createImageService({ cache, allowedOrigins: [], monitor: monitorWith(320 * MiB) });
    assert.equal(image.stats().queue.memoryBudget, 80 * MiB);
    await image.close();
  });
  await cache.close();
});

/** Asserts a HeadroomError HEADROOM_CONFIG_INVALID whose message has every fragment and no env var name. */
function refused(...fragments: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HeadroomError, `not a HeadroomError: ${String(err)}`);
    assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
    assert.ok(err.message.startsWith('createImageService: '), err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `missing ${JSON.stringify(f)} in: ${err.message}`);
    assert.doesNotMatch(err.message, /IMAGE_[A-Z]/, 'names the library option, not the variable');
    return true;
  };
}

test('bad arguments throw HEADROOM_CONFIG_INVALID naming the option, the value and what is accepted', async () => {
  const cache = testCache();
  await assertNoLeakedHandles(async () => {
    const create = (o: Record<string, unknown>) => createImageService({ cache, allowedOrigins: [], ...o } as ImageServiceOptions);
    // A bare host name such as "images" is an origin (http and https on the default port); a path is not.
    await create({ allowedOrigins: ['nope'] }).close();
    assert.throws(
      () => create({ allowedOrigins: ['https://img.example.com/a.png'] }),
      refused(
        'allowedOrigins=["https://img.example.com/a.png"]: entry "https://img.example.com/a.png" is not an origin; use scheme://host[:port]',
      ),
    );
    assert.throws(
      () => create({ allowPrivateOrigins: ['https://ok.example.com', 'http://[::1:8080', 'ftp://x.example.com'] }),
      refused(
        'allowPrivateOrigins=',
        'entry "http://[::1:8080" is not an origin (the [ of an IPv6 address has no closing ]); entry "ftp://x.example.com" is not an origin; use',
      ),
    );
    assert.throws(() => create({ allowedOrigins: 'https://a.example.com,*.' }), refused('entry "*." is not an origin'));
    assert.throws(() => create({ concurrency: 0 }), refused('concurrency=0: must be an integer between 1 and 256'));
    assert.throws(() => create({ maxSourceBytes: -1 }), refused('maxSourceBytes=-1: must be a byte size between 1 KiB and 1 GiB'));
    assert.throws(() => create({ originMaxAge: 'sometimes' }), refused('originMaxAge="sometimes": must be one of ceiling, floor, ignore'));
    assert.throws(() => create({ timeout: 'soon' }), refused('timeout="soon": must be a duration between 100ms and 10m'));
    assert.throws(() => create({ allowSvg: 'maybe' }), refused('allowSvg="maybe": must be true or false'));
    assert.throws(() => create({ allowSVG: true }), refused('allowSVG: unknown option; did you mean allowSvg?'));
    assert.throws(() => create({ origins: ['https://a.example.com'] }), refused('origins: unknown option'));
    // Every bad option in one error, not only the first.
    assert.throws(
      () => create({ queueSize: 1.5, defaultQuality: 101, memoryBudget: '1MiB', sharpConcurrency: -1 }),
      refused(
        'queueSize=1.5: must be an integer',
        'defaultQuality=101: must be an integer between 1 and 100',
        'memoryBudget="1MiB": must be a byte size between 16 MiB and 64 GiB',
        'sharpConcurrency=-1: must be an integer between 0 and 256',
      ),
    );
    assert.throws(
      () => create({ concurrency: 0, cache: {} }),
      refused('concurrency=0: must be an integer', '; cache=an object: must be a cache'),
    );
    // The objects handed in are checked for what the service calls on them.
    assert.throws(() => create({ cache: undefined }), refused('cache=undefined: must be a cache (an object with get() and set()'));
    assert.throws(() => create({ cache: {} }), refused('cache=an object: must be a cache'));
    assert.throws(
      () => create({ monitor: { status: 'ok' } }),
      refused('monitor=an object: must be a memory monitor (an object with status()'),
    );
    assert.throws(() => create({ monitor: { status: () => 'ok', current: 5 } }), refused('monitor.current=5: must be a function'));
    assert.throws(
      () => create({ admission: () => {} }),
      refused('admission=a function: must be an admission controller (an object with acquire()'),
    );
    assert.throws(() => create({ logger: 'debug' }), refused('logger="debug": must be a logger'));
    assert.throws(() => create({ lookup: 42 }), refused('lookup=42: must be a dns.lookup-style function'));
    assert.throws(() => createImageService(42 as unknown as ImageServiceOptions), refused('options must be an object'));
    // A refused construction holds nothing: the next one with good options works and closes clean.
    const image = create({ concurrency: 1, timeout: 2000 });
    assert.equal(image.stats().queue.concurrency, 1);
    await image.close();
    await cache.close();
  });
});
