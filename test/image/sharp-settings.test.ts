// sharp's cache and thread count are process-wide: the first open image service sets them, and a
// later one that asks for other values while it is open is refused instead of changing them under
// it. Once every service has closed, the next one sets its own. (Each test file runs in its own
// process, so this one starts from sharp's defaults.) Settings claimed before sharp is loaded are
// applied when it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createImageService, type ImageServiceOptions } from '../../src/image/index.js';
import { loadSharp } from '../../src/image/sharp-settings.js';
import { isHeadroomError } from '../../src/errors.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { testCache } from './fixtures.js';

const MiB = 1024 ** 2;
const refused = (option: string, asked: number, inUse: number) => (err: unknown) =>
  isHeadroomError(err) &&
  err.code === 'HEADROOM_CONFIG_INVALID' &&
  err.message.includes(`${option}=${asked}:`) &&
  err.message.includes(`uses ${option}=${inUse}`);

test('process-wide sharp settings are set once by the first open service, never silently changed by a later one', async () => {
  const sharpDefaultThreads = sharp.concurrency();
  await assertNoLeakedHandles(async () => {
    const cache = testCache();
    const create = (o: Partial<ImageServiceOptions>) => createImageService({ cache, allowedOrigins: [], ...o });
    const first = create({ sharpCacheMemory: 64 * MiB, sharpConcurrency: 2 });
    const applied = () => [sharp.cache().memory.max, sharp.concurrency()];
    // headroom loads sharp with the first image (this file imported it itself): the settings
    // claimed until then are applied when headroom loads it.
    assert.deepEqual(applied(), [50, sharpDefaultThreads], "sharp's defaults until headroom loads it");
    await loadSharp();
    assert.deepEqual(applied(), [64, 2]);

    assert.throws(() => create({}), refused('sharpCacheMemory', 0, 64 * MiB));
    assert.throws(() => create({ sharpCacheMemory: 64 * MiB, sharpConcurrency: 3 }), refused('sharpConcurrency', 3, 2));
    assert.deepEqual(applied(), [64, 2], "the first service's settings are untouched");
    // A construction that fails for another reason holds no claim (checked below).
    assert.throws(
      () => create({ allowedOrigins: ['https://x.test/path'], sharpCacheMemory: 64 * MiB, sharpConcurrency: 2 }),
      /is not an origin/,
    );

    const same = create({ sharpCacheMemory: 64 * MiB, sharpConcurrency: 2 });
    await first.close();
    assert.throws(() => create({}), refused('sharpCacheMemory', 0, 64 * MiB), 'one service with those settings is still open');
    await same.close();

    // Every service closed: the next sets its own, and 0 threads is sharp's default again.
    const next = create({});
    assert.deepEqual(applied(), [0, sharpDefaultThreads]);
    await next.close();
    await cache.close();
  });
});
