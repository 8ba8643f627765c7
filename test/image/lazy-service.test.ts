// createLazyImageService (the gateway's image service): options are checked at construction, the
// pipeline loads with the first request, idle stats match a fresh service's, and close() before,
// during or after the load leaves nothing behind. That an idle gateway has not loaded the
// pipeline's modules is checked in test/server/footprint.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImageService } from '../../src/image/index.js';
import { createLazyImageService } from '../../src/image/lazy.js';
import type { ImageServiceOptions } from '../../src/image/types.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { images, startOrigin, testCache } from './fixtures.js';

const webpQuery = (origin: string) => ({ url: `${origin}/img/png`, w: '40', format: 'webp' });

test('bad options are refused at construction, as createImageService refuses them', () => {
  const bad = { cache: testCache(), concurrency: 0, allowedOrigins: ['not a url'] } as unknown as ImageServiceOptions;
  const eager = (() => {
    try {
      createImageService(bad);
    } catch (err) {
      return err as Error & { code: string };
    }
  })();
  assert.ok(eager, 'createImageService refuses the options');
  assert.throws(() => createLazyImageService(bad), { code: 'HEADROOM_CONFIG_INVALID', message: eager.message });
});

test('before the first request, stats are those of a fresh service with the same options', async () => {
  await assertNoLeakedHandles(async () => {
    const cache = testCache();
    const others: Partial<ImageServiceOptions>[] = [
      {},
      { concurrency: 3, encodeConcurrency: 0, queueSize: 7, memoryBudget: 64 * 1024 ** 2 },
    ];
    for (const options of others) {
      const lazy = createLazyImageService({ cache, allowedOrigins: [], ...options });
      const eager = createImageService({ cache, allowedOrigins: [], ...options });
      assert.deepEqual(lazy.stats(), eager.stats(), JSON.stringify(options));
      await Promise.all([lazy.close(), eager.close()]);
    }
    await cache.close();
  });
});

test('the first requests load the pipeline once and are answered; stats are then the service’s', async () => {
  await images();
  await assertNoLeakedHandles(async () => {
    const origin = await startOrigin();
    const cache = testCache();
    const image = createLazyImageService({ cache, allowedOrigins: [origin.url], allowPrivateNetworks: true });
    try {
      // Two requests before the load finished, and a metadata request: one service serves them all.
      const [a, b, meta] = await Promise.all([
        image.handle({ query: webpQuery(origin.url) }),
        image.handle({ query: webpQuery(origin.url) }),
        image.meta({ url: `${origin.url}/img/png` }),
      ]);
      for (const res of [a, b]) {
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type'], 'image/webp');
        assert.ok(Buffer.isBuffer(res.body) && res.body.length > 0);
      }
      assert.equal(meta.width, 300);
      const s = image.stats();
      assert.equal(s.transforms, 1, 'one transform: the second request shared it or hit the cache');
      assert.equal(s.hits + s.misses, 2);
      assert.equal(origin.hits.get('/img/png'), 1, 'one fetch from the origin');
      await assert.rejects(image.handle({ query: { url: 'ftp://x/a.png' } }), { code: 'HEADROOM_BAD_REQUEST' });
      assert.equal(image.stats().rejections.bad_request, 1, 'rejections are the loaded service’s');
    } finally {
      await image.close();
      await cache.close();
      await origin.close();
    }
  });
});

test('close() before any request loads nothing; requests afterwards are refused', async () => {
  await assertNoLeakedHandles(async () => {
    const cache = testCache();
    const image = createLazyImageService({ cache, allowedOrigins: [] });
    await image.close();
    await image.close(); // idempotent
    await image[Symbol.asyncDispose]();
    await assert.rejects(image.handle({ query: { url: 'http://127.0.0.1/a.png' } }), { code: 'HEADROOM_DRAINING' });
    await assert.rejects(image.meta({ url: 'http://127.0.0.1/a.png' }), { code: 'HEADROOM_DRAINING' });
    assert.equal(image.stats().hits, 0);
    await cache.close();
  });
});

test('close() while the first request loads the pipeline closes the new service', async () => {
  await images();
  await assertNoLeakedHandles(async () => {
    const origin = await startOrigin();
    const cache = testCache();
    const image = createLazyImageService({ cache, allowedOrigins: [origin.url], allowPrivateNetworks: true });
    const first = image.handle({ query: webpQuery(origin.url) });
    const closing = image.close();
    assert.equal(image.close(), closing, 'one close promise');
    // The request was made before close(): it reaches the service, which was closed before it ran.
    await assert.rejects(first, { code: 'HEADROOM_DRAINING' });
    await closing;
    assert.equal(origin.hits.get('/img/png'), undefined, 'nothing was fetched');
    await cache.close();
    await origin.close();
  });
});
