// Cached images never outlive the options that allowed them: a cache (a disk L2 survives restarts)
// filled under IMAGE_ALLOW_SVG, IMAGE_KEEP_METADATA or IMAGE_ALLOW_PRIVATE_ORIGINS serves none of
// those entries once the option is off.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createImageService, type ImageServiceOptions } from '../../src/image/index.js';
import type { Cache } from '../../src/cache/types.js';
import { buildImageApp, fakeLookup, startOrigin, testCache, type Origin } from './fixtures.js';

let origin: Origin;
let cache: Cache;
let inside: string;

before(async () => {
  origin = await startOrigin();
  cache = testCache();
  // A name on a private address, as an internal image service would be.
  inside = `http://inside.test:${origin.port}`;
});
after(async () => {
  await cache.close();
  await origin.close();
});

/** GET /image?url=inside + src with a service made with `options` on the shared cache. */
async function getWith(options: Partial<ImageServiceOptions>, src: string, params = '') {
  const image = createImageService({
    cache,
    allowedOrigins: [inside],
    allowPrivateOrigins: [inside],
    lookup: fakeLookup({ 'inside.test': '127.0.0.1' }),
    timeout: 3000,
    ...options,
  });
  const app = await buildImageApp(image);
  try {
    return await app.inject({ method: 'GET', url: `/image?url=${encodeURIComponent(inside + src)}${params}` });
  } finally {
    await app.close();
    await image.close();
  }
}

test('entries cached while SVG, kept metadata or a private origin were allowed are not served once they are not', async () => {
  const allowing = { allowSvg: true, keepMetadata: true };
  assert.equal((await getWith(allowing, '/img/svg')).statusCode, 200);
  const kept = await getWith(allowing, '/img/rotated', '&w=20');
  assert.notEqual((await sharp(kept.rawPayload).metadata()).exif, undefined, 'EXIF kept');
  assert.equal((await getWith(allowing, '/img/png')).statusCode, 200);
  const fetched = origin.hits.get('/img/svg');

  const svg = await getWith({}, '/img/svg');
  assert.equal(svg.statusCode, 415, svg.body);
  assert.match(svg.json().error.message, /IMAGE_ALLOW_SVG=false/);
  assert.equal(origin.hits.get('/img/svg'), (fetched ?? 0) + 1, 'fetched and refused, not served from the cache');
  const stripped = await getWith({}, '/img/rotated', '&w=20');
  assert.equal((await sharp(stripped.rawPayload).metadata()).exif, undefined, 'EXIF stripped');
  const privateOff = await getWith({ allowPrivateOrigins: [] }, '/img/png');
  assert.equal(privateOff.statusCode, 403, privateOff.body);
  assert.equal(privateOff.json().error.code, 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN');

  // The same options again find their entries: nothing fetched.
  const hits = origin.hits.get('/img/png');
  assert.equal((await getWith(allowing, '/img/png')).headers['x-cache'], 'HIT');
  assert.equal(origin.hits.get('/img/png'), hits);
});
