// The next/image loader refuses a width the image route would refuse, instead of building its URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import loader from '../../../src/adapters/next/image-loader.js';
import { imageSpecs } from '../../../src/image/options.js';

test("the next/image loader refuses widths above the image route's default IMAGE_MAX_OUTPUT_DIMENSION, naming src, width and limit", () => {
  // The loader imports nothing, so it repeats the route's default: the two must agree.
  const max = imageSpecs.maxOutputDimension.default;
  assert.equal(loader({ src: 'https://img.test/a.jpg', width: max }), `/image?url=https%3A%2F%2Fimg.test%2Fa.jpg&w=${max}&q=75`);
  assert.throws(() => loader({ src: 'https://img.test/a.jpg', width: max + 1 }), {
    name: 'TypeError',
    message: `headroom image loader: https://img.test/a.jpg: width must be at most ${max} (the image route's default IMAGE_MAX_OUTPUT_DIMENSION), got ${max + 1}`,
  });
});
