// config.image.* is accepted by createImageService as it is (the gateway spreads it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageOptions } from '../../src/config/sections/image.js';
import { createImageService, type ImageServiceOptions } from '../../src/image/index.js';
import { testCache } from './fixtures.js';

type ImageConfig = { [K in keyof typeof imageOptions]: (typeof imageOptions)[K]['default'] };
// Compile-time: no config key without an option of the same name (spreads skip excess checks).
type Unmapped = Exclude<keyof ImageConfig, keyof ImageServiceOptions>;
const allMapped: [Unmapped] extends [never] ? true : Unmapped = true;

test('every IMAGE_* option maps to an ImageServiceOptions field of the same name', async () => {
  const config = Object.fromEntries(Object.entries(imageOptions).map(([k, o]) => [k, o.default])) as ImageConfig;
  // Type-level check: this assignment fails to compile if a name or type drifts.
  const options: ImageServiceOptions = { ...config, cache: testCache() };
  const image = createImageService(options);
  assert.equal(allMapped, true);
  assert.equal(image.stats().queue.concurrency, config.concurrency);
  await image.close();
  await options.cache.close();
});
