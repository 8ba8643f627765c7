// The image service takes a shared admission slot around every origin fetch and gives it back;
// a critical monitor pauses transforms (503) while originals still flow; RSS headroom is honoured.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admission, AdmissionStats, Release } from '../../src/admission/index.js';
import type { MemorySample, MemoryStatus, PressureSource } from '../../src/monitor/types.js';
import { HeadroomError } from '../../src/errors.js';
import { createImageService } from '../../src/image/index.js';
import { images, testCache, startOrigin, type Origin } from './fixtures.js';

let origin: Origin;
before(async () => {
  await images();
  origin = await startOrigin();
});
after(() => origin.close());

/** A one-slot admission controller that refuses when busy (enough to observe use and release). */
function oneSlot(): Admission & { acquired: number; held: number } {
  const a = {
    acquired: 0,
    held: 0,
    async acquire(): Promise<Release> {
      if (a.held > 0) throw new HeadroomError('HEADROOM_OVERLOADED', 'busy', { headers: { 'retry-after': '1' } });
      a.acquired++;
      a.held++;
      let done = false;
      return () => {
        if (!done) a.held--;
        done = true;
      };
    },
    stats: (): AdmissionStats => ({
      inFlight: a.held,
      queued: 0,
      maxConcurrent: 1,
      maxPerClient: 0,
      clients: 0,
      queueSize: 0,
      breakerOpen: false,
      rejected: { concurrency: 0, queueTimeout: 0, memory: 0, draining: 0, client: 0 },
      shed: 0,
    }),
    close: async () => {},
  };
  return a;
}

test('admission slots are taken around fetches and released, also for streamed originals and failures', async () => {
  const admission = oneSlot();
  const image = createImageService({
    cache: testCache(),
    allowedOrigins: [origin.url],
    allowPrivateNetworks: true,
    admission,
    timeout: 2000,
  });
  try {
    await image.handle({ query: { url: `${origin.url}/img/png`, w: '10' } });
    assert.equal(admission.held, 0);
    const big = await image.handle({ query: { url: `${origin.url}/img/big` } });
    assert.equal(admission.held, 1, 'held while the large original streams');
    for await (const _ of big.body as AsyncIterable<Buffer>) void _;
    assert.equal(admission.held, 0, 'released when the stream ends');
    await assert.rejects(image.handle({ query: { url: `${origin.url}/status/500` } }), { code: 'HEADROOM_IMAGE_FETCH_FAILED' });
    assert.equal(admission.held, 0);
    // While the slot is taken, a fetch is refused with the controller's error (and Retry-After).
    const hold = await admission.acquire();
    await assert.rejects(
      image.handle({ query: { url: `${origin.url}/img/webp` } }),
      (e: HeadroomError) => e.code === 'HEADROOM_OVERLOADED' && e.headers['retry-after'] === '1',
    );
    hold();
    assert.equal(admission.acquired, 4);
  } finally {
    await image.close();
  }
});

test('critical memory pauses transforms with 503 + Retry-After; originals still served', async () => {
  let status: MemoryStatus = 'critical';
  const monitor: PressureSource = { status: () => status, onPressure: () => () => {} };
  const image = createImageService({ cache: testCache(), allowedOrigins: [origin.url], allowPrivateNetworks: true, monitor });
  try {
    await assert.rejects(
      image.handle({ query: { url: `${origin.url}/img/jpeg`, w: '50' } }),
      (e: HeadroomError) => e.code === 'HEADROOM_MEMORY_PRESSURE' && Number(e.headers['retry-after']) >= 1,
    );
    assert.equal((await image.handle({ query: { url: `${origin.url}/img/jpeg` } })).status, 200);
    status = 'healthy';
    assert.equal((await image.handle({ query: { url: `${origin.url}/img/jpeg`, w: '50' } })).status, 200);
    assert.equal(image.stats().rejections.memory_pressure, 1);
  } finally {
    await image.close();
  }
});

test('a transform whose decode estimate exceeds the RSS headroom is refused', async () => {
  const sample = { rssLimit: 100 * 1024 ** 2, process: { rss: 99 * 1024 ** 2 } } as MemorySample;
  const monitor: PressureSource = { status: () => 'warning', onPressure: () => () => {}, current: () => sample };
  const image = createImageService({ cache: testCache(), allowedOrigins: [origin.url], allowPrivateNetworks: true, monitor });
  try {
    // 800×600×4 ≈ 1.9 MB > 1 MiB of headroom.
    await assert.rejects(image.handle({ query: { url: `${origin.url}/img/jpeg`, w: '50' } }), /memory headroom/);
    sample.process.rss = 10 * 1024 ** 2;
    assert.equal((await image.handle({ query: { url: `${origin.url}/img/jpeg`, w: '50' } })).status, 200);
  } finally {
    await image.close();
  }
});
