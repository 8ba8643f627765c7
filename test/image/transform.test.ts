// The two-stage transform (decode+resize to raw pixels, then encode) gives the same bytes as the
// whole pipeline, and the output bound that decides staging never underestimates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { decodeResize, encodeRaw, outputPixelsBound, stageable, transform, type TransformSpec } from '../../src/image/transform.js';
import { images } from './fixtures.js';

const spec = (over: Partial<TransformSpec>): TransformSpec => ({ quality: 80, format: 'webp', animated: false, keepMetadata: false, maxInputPixels: 50_000_000, ...over });

test('staged and whole transforms give identical bytes for every output format', async () => {
  const img = await images();
  const photo = await sharp(randomBytes(160 * 120 * 3), { raw: { width: 160, height: 120, channels: 3 } }).jpeg().toBuffer();
  const cases: [string, Buffer, Partial<TransformSpec>][] = [
    ['photo → webp', photo, { w: 100 }],
    ['photo → jpeg, h only', photo, { h: 50, format: 'jpeg' }],
    ['alpha png → png', img.png, { w: 120, fit: 'cover', h: 120, format: 'png' }],
    ['alpha png → avif', img.png, { w: 64, format: 'avif' }],
    ['EXIF-rotated jpeg → webp', img.rotated, { w: 30 }],
    ['no resize → webp', img.webp, {}],
  ];
  for (const [name, input, over] of cases) {
    const s = spec(over);
    const whole = await transform(input, s);
    const raw = await decodeResize(input, s);
    const staged = await encodeRaw(raw, s);
    assert.ok(whole.equals(staged), `${name}: ${whole.length} vs ${staged.length} bytes`);
  }
  // EXIF orientation 6 turns 80×40 into 40×80 before the resize, in both stages' pixels.
  const raw = await decodeResize(img.rotated, spec({ w: 20 }));
  assert.deepEqual([raw.info.width, raw.info.height], [20, 40]);
});

test('only single-frame transforms without kept metadata are staged', () => {
  assert.equal(stageable(spec({})), true);
  assert.equal(stageable(spec({ animated: true })), false);
  assert.equal(stageable(spec({ keepMetadata: true })), false);
});

test('outputPixelsBound is an upper bound of the real output size for every fit', async () => {
  const src = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#123' } }).png().toBuffer();
  const sizes: [number | undefined, number | undefined][] = [[100, undefined], [undefined, 50], [100, 100], [400, 50], [50, 400], [1000, 1000], [undefined, undefined]];
  for (const fit of ['cover', 'contain', 'fill', 'inside', 'outside'] as const) {
    for (const [w, h] of sizes) {
      const { info } = await decodeResize(src, spec({ w, h, fit }));
      const bound = outputPixelsBound(300, 200, w, h, fit);
      assert.ok(info.width * info.height <= bound, `fit=${fit} w=${w} h=${h}: ${info.width}×${info.height} > bound ${bound}`);
    }
  }
  assert.equal(outputPixelsBound(2000, 1333, 400), 400 * 267);
  assert.equal(outputPixelsBound(300, 200), 60_000);
});
