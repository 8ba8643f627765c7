// The two-stage transform (decode+resize to raw pixels, then encode) gives the same bytes as the
// whole pipeline, and the output bound that decides staging never underestimates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import {
  avifEffort,
  decodeResize,
  encodeRaw,
  outputPixelsBound,
  stageable,
  transform,
  type TransformSpec,
} from '../../src/image/transform.js';
import { images } from './fixtures.js';

const spec = (over: Partial<TransformSpec>): TransformSpec => ({
  quality: 80,
  format: 'webp',
  animated: false,
  keepMetadata: false,
  maxInputPixels: 50_000_000,
  maxDimension: 4096,
  timeoutSeconds: 30,
  ...over,
});

test('staged and whole transforms give identical bytes for the staged formats, whatever the source', async () => {
  const img = await images();
  const noise = (w: number, h: number, ch: 3 | 4 = 3) => sharp(randomBytes(w * h * ch), { raw: { width: w, height: h, channels: ch } });
  const sources: [string, Buffer][] = [
    ['photo jpeg', await noise(160, 120).jpeg().toBuffer()],
    ['alpha png', img.png],
    ['EXIF-rotated jpeg', img.rotated],
    ['16-bit png', await noise(120, 80).toColourspace('rgb16').png().toBuffer()],
    ['grey + alpha png', await noise(120, 80, 4).toColourspace('b-w').png().toBuffer()],
    ['CMYK jpeg', await noise(120, 80).toColourspace('cmyk').jpeg().toBuffer()],
    ['Display P3 jpeg', await noise(120, 80).withIccProfile('p3').jpeg().toBuffer()],
    ['webp', img.webp],
  ];
  const sizes: Partial<TransformSpec>[] = [{ w: 60 }, { h: 50, w: 50, fit: 'cover' }, {}];
  for (const [name, input] of sources) {
    for (const format of ['webp', 'jpeg', 'avif'] as const) {
      for (const size of sizes) {
        const s = spec({ ...size, format });
        assert.ok(stageable(s));
        const whole = await transform(input, s);
        const staged = await encodeRaw(await decodeResize(input, s), s);
        assert.ok(whole.equals(staged), `${name} → ${format} ${JSON.stringify(size)}: ${whole.length} vs ${staged.length} bytes`);
      }
    }
  }
  // EXIF orientation 6 turns 80×40 into 40×80 before the resize, in both stages' pixels.
  const raw = await decodeResize(img.rotated, spec({ w: 20 }));
  assert.deepEqual([raw.info.width, raw.info.height], [20, 40]);
});

test('only single-frame WebP/AVIF/JPEG transforms without kept metadata are staged', () => {
  assert.equal(stageable(spec({})), true);
  assert.equal(stageable(spec({ format: 'png' })), false, 'PNG would lose the pixel density (pHYs)');
  assert.equal(stageable(spec({ format: 'gif' })), false);
  assert.equal(stageable(spec({ animated: true })), false);
  assert.equal(stageable(spec({ keepMetadata: true })), false);
});

test('outputPixelsBound is an upper bound of the real output size for every fit', async () => {
  const src = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#123' } })
    .png()
    .toBuffer();
  const sizes: [number | undefined, number | undefined][] = [
    [100, undefined],
    [undefined, 50],
    [100, 100],
    [400, 50],
    [50, 400],
    [1000, 1000],
    [undefined, undefined],
  ];
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

test('AVIF effort falls as the output grows, fastest when the size is not known', () => {
  const tiers: [number, number][] = [
    [1, 4],
    [500_000, 4],
    [500_001, 3],
    [4_000_000, 3],
    [4_000_001, 2],
    [8_000_000, 2],
    [8_000_001, 0],
    [Infinity, 0],
  ];
  for (const [pixels, effort] of tiers) assert.equal(avifEffort(pixels), effort, `${pixels} pixels`);
});

test('every output fits maxDimension in both dimensions, whatever was asked; aspect kept where it was', async () => {
  const source = (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: '#123' } })
      .png()
      .toBuffer();
  const wide = await source(2000, 100);
  const tall = await source(100, 2000);
  const cases: [string, Buffer, Partial<TransformSpec>, [number, number]][] = [
    ['nothing asked', wide, {}, [500, 25]],
    ['the short side only', wide, { h: 100 }, [500, 25]],
    ['the short side only, fit=fill', tall, { w: 50, fit: 'fill' }, [50, 500]],
    ['fit=outside', wide, { w: 10, h: 100, fit: 'outside' }, [500, 25]],
    ['within the bound: as asked', wide, { w: 400, h: 10, fit: 'outside' }, [400, 20]],
    ['fit=cover', tall, { w: 400, h: 400 }, [100, 400]],
  ];
  for (const [name, input, size, expected] of cases) {
    const s = spec({ ...size, maxDimension: 500, format: 'jpeg' });
    const { info } = await decodeResize(input, s);
    assert.deepEqual([info.width, info.height], expected, name);
    const m = await sharp(await transform(input, s)).metadata();
    assert.deepEqual([m.width, m.height], expected, `${name}, whole`);
  }
});
