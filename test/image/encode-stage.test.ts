// The encode stage: a transform slot decodes, hands the pixels to an encoder and is free for the
// next decode before the encode finishes; up to IMAGE_ENCODE_CONCURRENCY decoded outputs wait
// for an encoder without a slot, and one more per slot while holding it; IMAGE_ENCODE_CONCURRENCY=0
// encodes in the slot. Outputs are the same either way.
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

test('an output waiting in the backlog does not hold its slot; close() fails it cleanly', async () => {
  const image = service(1);
  // Settled into values at once: close() rejects `second` before the test looks at it.
  const first = image.handle(avif(7)).catch((err: unknown) => err);
  const second = image.handle(avif(8)).catch((err: unknown) => err);
  try {
    // The first encodes (slow AVIF) while the second, decoded, waits for the encoder.
    for (let e = image.stats().encoding!; !(e.active === 1 && e.queued === 1); e = image.stats().encoding!) await tick();
    assert.equal(image.stats().queue.active, 0, 'slot free while the output waits in the backlog');
  } finally {
    await image.close();
  }
  assert.equal(((await second) as { code?: string }).code, 'HEADROOM_DRAINING');
  await first; // the running encode finishes or fails; either way nothing hangs
});

test('decoded outputs waiting for an encoder stay bounded: a backlog of one per encoder, then the slot is held', async () => {
  const image = service(1);
  try {
    const all = Promise.all([2, 3, 4, 5, 6].map((i) => image.handle(avif(i))));
    let done = false;
    void all.finally(() => (done = true));
    let sawSlotHeld = false;
    while (!done) {
      const { queue, encoding } = image.stats();
      // 1 encoder: 1 output in the backlog, 1 more waiting in the one slot.
      assert.ok(encoding!.active <= 1 && encoding!.queued <= 2 && queue.active <= 1, JSON.stringify({ queue, encoding }));
      if (encoding!.queued === 2) {
        sawSlotHeld = true;
        assert.equal(queue.active, 1, 'an output beyond the backlog keeps its slot');
      }
      await tick();
    }
    assert.ok((await all).every((r) => r.status === 200));
    assert.ok(sawSlotHeld, 'a decoded output beyond the backlog waited in its slot');
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
