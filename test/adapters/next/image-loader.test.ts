// The next/image loader refuses a width the image route would refuse, instead of building its URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import loader, { createImageLoader } from '../../../src/adapters/next/image-loader.js';
import { imageSpecs } from '../../../src/image/options.js';

test("the next/image loader refuses widths above the image route's IMAGE_MAX_OUTPUT_DIMENSION (maxWidth, its default by default), naming src, width and limit", () => {
  // The loader imports nothing, so it repeats the route's default and bounds: they must agree.
  const spec = imageSpecs.maxOutputDimension;
  const max = spec.default;
  assert.equal(loader({ src: 'https://img.test/a.jpg', width: max }), `/image?url=https%3A%2F%2Fimg.test%2Fa.jpg&w=${max}&q=75`);
  assert.throws(() => loader({ src: 'https://img.test/a.jpg', width: max + 1 }), {
    name: 'TypeError',
    message: `headroom image loader: https://img.test/a.jpg: width must be at most ${max} (maxWidth: the image route's IMAGE_MAX_OUTPUT_DIMENSION), got ${max + 1}`,
  });
  const wide = createImageLoader({ maxWidth: 8000 });
  assert.match(wide({ src: 'https://img.test/a.jpg', width: 8000 }), /&w=8000&/);
  assert.throws(() => wide({ src: 'https://img.test/a.jpg', width: 8001 }), /at most 8000/);
  assert.equal(spec.accepted, 'must be an integer between 16 and 16384', 'the bounds the loader repeats');
  for (const bad of [15, 16_385, 100.5, '4096'])
    assert.throws(() => createImageLoader({ maxWidth: bad as number }), {
      name: 'TypeError',
      message: /maxWidth=.*: must be an integer from 16 to 16384/,
    });
});
