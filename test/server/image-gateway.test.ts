import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { parsePrometheus } from './prometheus.js';

test('demo mode: /image resizes the demo origin images; stats and metrics are wired', async () => {
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    const src = `${t.gw.upstreamUrl}/images/demo.jpg`;
    const res = await request(`${t.url}/image?url=${encodeURIComponent(src)}&w=200&format=webp`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'image/webp');
    const meta = await sharp(res.body).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(meta.width, 200);
    const again = await request(`${t.url}/image?url=${encodeURIComponent(src)}&w=200&format=webp`, {
      headers: { 'if-none-match': String(res.headers.etag) },
    });
    assert.equal(again.status, 304);

    const info = (await request(`${t.url}/image/meta?url=${encodeURIComponent(src)}`)).json();
    assert.equal(info.width, 1200);
    assert.equal(info.height, 800);

    const stats = await request(`${t.url}/admin/image-stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(stats.status, 200);
    assert.ok(stats.json().totalImages >= 1);
    const types = parsePrometheus((await request(`${t.url}/metrics`)).text);
    assert.ok([...types.keys()].some((k) => k.startsWith('headroom_image_')));
  } finally {
    await t.close();
  }
});

test('only the demo origin is exempt from the private-network guard', async () => {
  const t = await startGateway();
  try {
    const res = await request(`${t.url}/image?url=${encodeURIComponent(`${t.url}/health`)}`);
    assert.equal(res.status, 403);
    assert.equal(res.json().error.code, 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN');
  } finally {
    await t.close();
  }
});

test('IMAGE_MEMORY_BUDGET unset: the transform budget is a quarter of the memory limit and the start-up log says so', async () => {
  const MiB = 1024 ** 2;
  // 480 MiB: a limit this test process stays well under; a quarter of it is 120 MiB (< 1 GiB).
  const budget = async (t: { url: string }): Promise<number> =>
    (await request(`${t.url}/admin/image-stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json().queue.memoryBudget;
  const sized = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, MEMORY_RSS_LIMIT: '480MiB' });
  try {
    assert.equal(await budget(sized), 120 * MiB);
    const line = sized.logs.find((l) => l.includes('IMAGE_MEMORY_BUDGET not set'));
    assert.ok(line, 'one info line at start');
    assert.match(JSON.parse(line).msg, /reserve up to 120 MiB, sized from the 480 MiB memory limit \(set IMAGE_MEMORY_BUDGET to choose\)/);
  } finally {
    await sized.close();
  }
  const given = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, MEMORY_RSS_LIMIT: '480MiB', IMAGE_MEMORY_BUDGET: '300MiB' });
  try {
    assert.equal(await budget(given), 300 * MiB);
    assert.ok(!given.logs.some((l) => l.includes('IMAGE_MEMORY_BUDGET not set')));
  } finally {
    await given.close();
  }
});
