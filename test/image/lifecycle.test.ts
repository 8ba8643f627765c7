// close() is idempotent and leaves no handle behind, even with a large original mid-stream or a
// transform in flight; a second close() while the first runs returns the same promise; the
// service answers 503 afterwards. Also: sniffing by bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { AddressInfo } from 'node:net';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { createImageService, sniff } from '../../src/image/index.js';
import { buildImageApp, images, testCache, startOrigin } from './fixtures.js';

test('no handles left after close(), including an interrupted stream and a queued transform', async () => {
  await images();
  await assertNoLeakedHandles(async () => {
    const origin = await startOrigin();
    const cache = testCache();
    const image = createImageService({ cache, allowedOrigins: [origin.url], allowPrivateNetworks: true, concurrency: 1, timeout: 2000 });
    const app = await buildImageApp(image);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const url = (src: string, params = '') => `${base}/image?url=${encodeURIComponent(origin.url + src)}${params}`;

    assert.equal((await request(url('/img/png', '&w=20'))).statusCode, 200);
    // Start reading a large original, then walk away mid-body.
    const big = await request(url('/img/big'));
    assert.equal(big.statusCode, 200);
    for await (const chunk of big.body) {
      assert.ok(chunk.length > 0);
      break;
    }
    await app.close();
    await image.close();
    await image.close(); // idempotent
    await image[Symbol.asyncDispose]();
    await assert.rejects(image.handle({ query: { url: `${origin.url}/img/png` } }), { code: 'HEADROOM_DRAINING' });
    await cache.close();
    await origin.close();
  });
});

// Without the fix close() waited for the stalled source until IMAGE_TIMEOUT (10 min here): the
// test's own timeout reports that instead of hanging the run.
test(
  'two concurrent close() calls during an in-flight transform share one promise, which ends the transform now',
  { timeout: 30_000 },
  async () => {
    await images();
    await assertNoLeakedHandles(async () => {
      const origin = await startOrigin();
      const cache = testCache();
      const image = createImageService({
        cache,
        allowedOrigins: [origin.url],
        allowPrivateNetworks: true,
        concurrency: 1,
        timeout: 600_000,
      });
      try {
        // A large source whose body stalls after 128 KiB: its transform holds the slot, collecting it.
        const inFlight = image.handle({ query: { url: `${origin.url}/held/big?head=131072`, w: '100', format: 'webp' } });
        const order: string[] = [];
        const request = inFlight
          .then(
            () => 'served',
            (err: { code?: string }) => err.code,
          )
          .finally(() => order.push('request'));
        await waitFor(() => image.stats().queue.active === 1 && origin.held() === 1, 'the transform holds its slot, its source stalled');
        const first = image.close();
        const second = image.close();
        assert.equal(second, first, 'the second close() returns the first one, still running');
        assert.equal(image[Symbol.asyncDispose](), first);
        void first.then(() => order.push('first close'));
        void second.then(() => order.push('second close'));
        await Promise.all([first, second]);
        assert.equal(await request, 'HEADROOM_DRAINING');
        assert.deepEqual(order, ['request', 'first close', 'second close'], 'both closes settle once the transform has');
        assert.equal(image.close(), first, 'and after it settled');
      } finally {
        await image.close();
        await cache.close();
        await origin.close();
      }
    });
  },
);

test('sniff recognises formats by magic bytes only', async () => {
  const i = await images();
  assert.equal(sniff(i.jpeg), 'jpeg');
  assert.equal(sniff(i.png), 'png');
  assert.equal(sniff(i.webp), 'webp');
  assert.equal(sniff(i.avif), 'avif');
  assert.equal(sniff(i.gif), 'gif');
  assert.equal(sniff(i.tiff), 'tiff');
  assert.equal(sniff(i.svg), 'svg');
  assert.equal(sniff(Buffer.from('<html><svg></svg></html>')), undefined);
  assert.equal(sniff(Buffer.from('GIF8')), undefined);
  assert.equal(sniff(Buffer.alloc(0)), undefined);
});
