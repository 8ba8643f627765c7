// The encode stage: a transform slot decodes, hands the pixels to an encoder and is free for the
// next decode before the encode finishes; at most `concurrency` decoded outputs wait for an
// encoder; IMAGE_ENCODE_CONCURRENCY=0 encodes in the slot. Outputs are the same either way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { createImageService } from '../../src/image/index.js';
import type { ImageService } from '../../src/image/types.js';
import { images, testCache, startOrigin, type Origin } from './fixtures.js';

let origin: Origin;
before(async () => {
  await images();
  origin = await startOrigin();
});
after(() => origin.close());

const service = (encodeConcurrency: number): ImageService =>
  createImageService({ cache: testCache(), allowedOrigins: [origin.url], allowPrivateNetworks: true, concurrency: 1, encodeConcurrency });

// AVIF encodes slowly (hundreds of ms for 800×600), which leaves time to watch the stages.
const avif = (i: number) => ({ query: { url: `${origin.url}/img/jpeg?i=${i}`, w: '800', format: 'avif' } });

test('the transform slot is released while its output encodes', async () => {
  const image = service(1);
  try {
    const pending = image.handle(avif(1));
    while (image.stats().encoding!.active === 0) await tick();
    assert.equal(image.stats().queue.active, 0, 'slot free during the encode');
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'image/avif');
    assert.equal(image.stats().encoding!.active, 0);
  } finally {
    await image.close();
  }
});

test('decoded outputs waiting for an encoder stay bounded by the transform slots', async () => {
  const image = service(1);
  try {
    const all = Promise.all([2, 3, 4, 5].map((i) => image.handle(avif(i))));
    let done = false;
    void all.finally(() => (done = true));
    let sawWaiting = false;
    while (!done) {
      const { queue, encoding } = image.stats();
      assert.ok(encoding!.active <= 1 && encoding!.queued <= 1 && queue.active <= 1, JSON.stringify({ queue, encoding }));
      if (encoding!.queued === 1) {
        sawWaiting = true;
        assert.equal(queue.active, 1, 'a waiting output keeps its slot');
      }
      await tick();
    }
    assert.ok((await all).every((r) => r.status === 200));
    assert.ok(sawWaiting, 'a decoded output waited for the busy encoder');
  } finally {
    await image.close();
  }
});

test('IMAGE_ENCODE_CONCURRENCY=0 encodes inside the slot, with the same bytes', async () => {
  const inSlot = service(0);
  const staged = service(2);
  try {
    assert.equal(inSlot.stats().encoding, null);
    for (const format of ['webp', 'jpeg', 'png']) {
      const q = { query: { url: `${origin.url}/img/png`, w: '120', format } };
      const a = await inSlot.handle(q);
      const b = await staged.handle(q);
      assert.ok(Buffer.isBuffer(a.body) && Buffer.isBuffer(b.body));
      assert.ok(a.body.equals(b.body), `${format}: same bytes`);
      assert.equal(a.headers.etag, b.headers.etag);
    }
    assert.equal(staged.stats().encoding!.active, 0);
  } finally {
    await Promise.all([inSlot.close(), staged.close()]);
  }
});
