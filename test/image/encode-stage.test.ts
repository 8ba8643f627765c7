// The encode stage: a transform slot decodes, hands the pixels to an encoder and is free for the
// next decode before the encode finishes; up to IMAGE_ENCODE_CONCURRENCY decoded outputs wait
// for an encoder without a slot, and one more per slot while holding it; an idle encoder takes a
// waiting small transform whole; IMAGE_ENCODE_CONCURRENCY=0 encodes in the slot. Outputs are the
// same either way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { waitFor } from '../helpers/wait.js';
import { createImageService } from '../../src/image/index.js';
import type { ImageService } from '../../src/image/types.js';
import { transform } from '../../src/image/transform.js';
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
const until = (cond: () => boolean, what: string) => waitFor(cond, what, 10_000, 1);

// A > 5 MiB source whose body stalls after 128 KiB until origin.release(): its transform holds the
// slot, collecting it, for as long as the test needs.
const held = (i: number) => ({ query: { url: `${origin.url}/held/big?head=131072&i=${i}`, w: '100', format: 'webp' } });

test('the transform slot is released while its output encodes', async () => {
  const image = service(1);
  try {
    const pending = image.handle(avif(1));
    await until(() => image.stats().encoding!.active > 0, 'an encode runs');
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
  let second: Promise<unknown> | undefined;
  try {
    // The second starts once the first encodes, so it takes the free slot (not the idle encoder).
    await until(() => image.stats().encoding!.active > 0, 'an encode runs');
    second = image.handle(avif(8)).catch((err: unknown) => err);
    // The first encodes (slow AVIF) while the second, decoded, waits for the encoder.
    await until(
      () => image.stats().encoding!.active === 1 && image.stats().encoding!.queued === 1,
      'one encodes and one waits in the backlog',
    );
    assert.equal(image.stats().queue.active, 0, 'slot free while the output waits in the backlog');
  } finally {
    await image.close();
  }
  assert.equal(((await second) as { code?: string }).code, 'HEADROOM_DRAINING');
  assert.equal(image.stats().queue.lent, 0);
  await first; // the running encode finishes or fails; either way nothing hangs
});

test('decoded outputs waiting for an encoder stay bounded: a backlog of one per encoder, then the slot is held', async () => {
  const image = service(1);
  try {
    const all = Promise.all([2, 3, 4, 5, 6].map((i) => image.handle(avif(i))));
    let done = false;
    void all.finally(() => (done = true));
    let sawSlotHeld = false;
    // Sampled every turn of the event loop until all five have settled (or failed).
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

test('an idle encoder runs a waiting small transform whole, its decode estimate reserved in the transform queue', async () => {
  const image = service(1);
  const plain = service(1);
  try {
    // A large source holds the one slot until the rest of its body arrives.
    const first = image.handle(held(20));
    await until(() => image.stats().queue.active > 0, 'the slot is taken');
    const reservedByFirst = image.stats().queue.reservedBytes;
    // The slot decodes the first; the encoder is idle, so the second does not wait for the slot.
    const second = image.handle(avif(21));
    await until(() => image.stats().queue.lent > 0, 'a transform is lent to the encoder');
    const { queue, encoding } = image.stats();
    assert.equal(queue.queued, 0, 'taken out of the queue');
    assert.equal(encoding!.active, 1, 'in the encoder slot');
    assert.ok(queue.reservedBytes > reservedByFirst, 'its decode estimate is reserved beside the running one');
    const b = await second;
    assert.equal(image.stats().queue.active, 1, 'done while the first still held the slot');
    origin.release();
    const a = await first;
    assert.equal(b.status, 200);
    assert.equal(b.headers['content-type'], 'image/avif');
    // The same bytes as the staged path gives for it.
    const again = await plain.handle(avif(21));
    assert.ok(Buffer.isBuffer(b.body) && Buffer.isBuffer(again.body) && b.body.equals(again.body));
    assert.equal(a.status, 200);
    assert.deepEqual([image.stats().queue.lent, image.stats().queue.reservedBytes], [0, 0]);
  } finally {
    await Promise.all([image.close(), plain.close()]);
  }
});

test('large sources (streamed) and big decodes (a small file of 20 MP: 80 MB estimated) are never lent: they wait for a slot', async () => {
  for (const [i, name] of [
    [30, 'big'],
    [31, 'flat'],
  ] as const) {
    const image = service(1);
    try {
      const first = image.handle(held(i));
      await until(() => image.stats().queue.active > 0, 'the slot is taken');
      const waiting = image.handle({ query: { url: `${origin.url}/img/${name}`, w: '200', format: 'webp' } });
      await until(() => image.stats().queue.queued > 0, `the ${name} transform waits`);
      assert.deepEqual([image.stats().encoding!.active, image.stats().queue.lent], [0, 0], `${name}: the encoder stays idle`);
      origin.release();
      const [a, b] = await Promise.all([first, waiting]);
      assert.deepEqual([a.status, b.status], [200, 200]);
    } finally {
      await image.close();
    }
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

test('a larger AVIF output is encoded at a lower effort: the transform timeout cannot stop an AVIF encode', async () => {
  const img = await images();
  const image = service(1);
  try {
    // 800 × 800 of noise, over 0.5 MP: effort 3 (sharp's default 4 took about six times as long here).
    const res = await image.handle({ query: { url: `${origin.url}/img/big`, w: '800', format: 'avif' } });
    assert.equal(res.status, 200);
    const spec = {
      w: 800,
      quality: 80,
      format: 'avif',
      animated: false,
      keepMetadata: false,
      maxInputPixels: 50_000_000,
      maxDimension: 4096,
      timeoutSeconds: 30,
    } as const;
    assert.ok(Buffer.isBuffer(res.body) && res.body.equals(await transform(img.big, { ...spec, avifEffort: 3 })));
  } finally {
    await image.close();
  }
});
