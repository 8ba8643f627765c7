// The Next.js adapter's pieces that need no Next build: the Edge fallback and the image loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHealthRoute, createProxyRoute, registerHeadroom } from '../../../src/adapters/next/index.js';
import * as edge from '../../../src/adapters/next/edge.js';
import loader, { createImageLoader } from '../../../src/adapters/next/image-loader.js';

test('on the Edge runtime every handler answers 501 naming the fix, warns once, and register() does nothing', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const before = process.env.NEXT_RUNTIME;
  process.env.NEXT_RUNTIME = 'edge';
  try {
    for (const route of [
      createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9' }).GET,
      createHealthRoute().GET,
      edge.createMetricsRoute().GET,
    ]) {
      const r = await route(new Request('http://app.test/api/x'));
      assert.equal(r.status, 501);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.match(body.error.message, /export const runtime = 'nodejs'/);
    }
    assert.equal(await registerHeadroom(), undefined);
    assert.ok(warn.mock.callCount() <= 1, 'one warning per process');
  } finally {
    if (before === undefined) delete process.env.NEXT_RUNTIME;
    else process.env.NEXT_RUNTIME = before;
  }
});

test('the next/image loader builds /image URLs', () => {
  assert.equal(loader({ src: 'https://img.test/a.jpg', width: 640, quality: 80 }), '/image?url=https%3A%2F%2Fimg.test%2Fa.jpg&w=640&q=80');
  const l = createImageLoader({ path: '/img', quality: 60, origin: 'https://cdn.test/' });
  assert.equal(l({ src: '/p.png', width: 100 }), '/img?url=https%3A%2F%2Fcdn.test%2Fp.png&w=100&q=60');
});
