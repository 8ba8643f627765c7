// Request memory accounting through the image service on a real Express 5 app with sharp: 32
// concurrent resizes of a > 5 MiB source. Each transform's decode reservation (and its encode
// reservation) is charged to the request that asked for it — also when it starts from another
// request's freed slot — as are decoded pixels waiting for an encoder; the charges cover the
// queues' reservations and add up to the gauge at every sample, and all is given back at the end.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import { accountingMiddleware, createRequestAccounting } from '../../src/adapters/express/index.js';
import { createImageService } from '../../src/image/index.js';
import type { RequestSummary } from '../../src/log/accounting.js';
import { serveNodeImage } from '../../src/toolkit/node-image.js';
import { images, startOrigin, testCache, type Origin } from '../image/fixtures.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const N = 32;
const SLOTS = 4;

let origin: Origin;
before(async () => {
  await images();
  origin = await startOrigin();
});
after(() => origin.close());

function get(url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test('express: image decode reservations are charged to their requests and all given back', { timeout: 120_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const ended: RequestSummary[] = [];
    const accounting = createRequestAccounting({ warnBytes: 1024, onHeavy: (s) => ended.push(s) });
    const cache = testCache();
    const image = createImageService({
      cache,
      allowedOrigins: [origin.url],
      allowPrivateNetworks: true,
      concurrency: SLOTS,
      encodeConcurrency: 2,
      queueSize: N,
      queueTimeout: 60_000,
    });
    const app = express();
    app.use(accountingMiddleware(accounting));
    app.get('/image', (req, res) => void serveNodeImage(image, req, res));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const reserved = (): number => {
      const s = image.stats();
      return s.queue.reservedBytes + (s.encoding?.reservedBytes ?? 0);
    };
    let samples = 0;
    let maxGauge = 0;
    let mismatch = '';
    const sampler = setInterval(() => {
      const gauge = accounting.held();
      const sum = accounting.active().reduce((s, l) => s + l.held, 0);
      samples++;
      maxGauge = Math.max(maxGauge, gauge);
      if (!mismatch && Math.abs(sum - gauge) > gauge * 0.01) mismatch = `sum ${sum} vs gauge ${gauge}`;
      // Above the reservations only by decoded outputs waiting for an encoder (≤ 8 MiB each, at
      // most one per encoder and slot).
      const extra = gauge - reserved();
      if (!mismatch && (extra < 0 || extra > (2 + SLOTS) * 8 * 1024 ** 2)) mismatch = `gauge ${gauge} vs reserved ${reserved()}`;
    }, 1);
    try {
      // Every source stalls after 128 KiB, so the first SLOTS transforms hold their slots (and
      // reservations) until the origin lets go; the rest wait in the queue, charged nothing yet.
      const done = Array.from({ length: N }, (_, i) => {
        const src = encodeURIComponent(`${origin.url}/held/big?head=131072&i=${i}`);
        return get(`${base}/image?url=${src}&w=${64 + i}&format=webp`);
      });
      for (const d of done) d.catch(() => {}); // a failure below is the one to report, not the hang-ups after it
      await waitFor(
        () => accounting.active().filter((l) => l.held > 0).length === SLOTS,
        `${SLOTS} transforms charged their decode reservation`,
        30_000,
      );
      assert.equal(accounting.held(), reserved(), 'the requests hold exactly what the queue reserved');
      assert.ok(accounting.held() >= SLOTS * 16 * 1024 ** 2, `${accounting.held()}: 2000 × 2000 × 4 bytes per decode`);
      let finished = 0;
      for (const d of done) void d.then(() => finished++);
      // Sources fetched after the first release stall too: let each go as it arrives.
      await waitFor(
        () => {
          origin.release();
          return finished === N;
        },
        'every image answered',
        90_000,
      );
      for (const r of await Promise.all(done)) assert.equal(r.status, 200);
      await waitFor(() => accounting.active().length === 0, 'every image request ended', 10_000);
      clearInterval(sampler);
      assert.equal(mismatch, '', 'charges add up to the gauge, and cover the reservations, at every sample');
      assert.ok(samples > 10, `sampled during load (${samples})`);
      assert.equal(accounting.held(), 0, 'all given back');
      assert.equal(reserved(), 0);
      assert.equal(ended.length, N, 'every request was charged (its peak above 1 KiB)');
      assert.ok(
        ended.every((s) => s.charged >= 16 * 1024 ** 2),
        'each request was charged its own decode, queued ones included',
      );
      assert.ok(maxGauge >= SLOTS * 16 * 1024 ** 2);
      assert.equal(accounting.routes().find((r) => r.route === '/image')?.requests, N);
    } finally {
      clearInterval(sampler);
      origin.release();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await image.close();
      await cache.close();
      await accounting.close();
    }
  });
});

test('decoded pixels waiting for an encoder outside their slot stay charged until the encoder takes them', { timeout: 60_000 }, () =>
  assertNoLeakedHandles(async () => {
    const accounting = createRequestAccounting();
    const cache = testCache();
    const image = createImageService({
      cache,
      allowedOrigins: [origin.url],
      allowPrivateNetworks: true,
      concurrency: 1,
      encodeConcurrency: 1,
    });
    const first = accounting.open();
    const second = accounting.open();
    // AVIF encodes slowly (hundreds of ms for 800×600): the second output waits for the one encoder.
    const avif = (i: number) => ({ query: { url: `${origin.url}/img/jpeg?i=${i}`, w: '800', format: 'avif' } });
    try {
      const a = accounting.run(first, () => image.handle(avif(101)));
      a.catch(() => {}); // a failure below is the one to report, not close() failing these
      await waitFor(() => image.stats().encoding!.active > 0, 'the first encodes', 10_000, 1);
      const b = accounting.run(second, () => image.handle(avif(102)));
      b.catch(() => {});
      await waitFor(
        () => image.stats().encoding!.queued === 1 && image.stats().queue.active === 0,
        'the second waits for the encoder with its slot given up',
        10_000,
        1,
      );
      assert.equal(second.held, 800 * 600 * 3, 'its RGB pixels are charged while they wait');
      assert.ok(first.held >= 2 * 800 * 600 * 3, 'the first holds its encode reservation');
      assert.equal(accounting.held(), first.held + second.held);
      assert.equal((await a).status, 200);
      assert.equal((await b).status, 200);
      assert.equal(accounting.held(), 0, 'all given back');
      assert.ok(second.charged >= 800 * 600 * 3 + 2 * 800 * 600 * 3, 'decode, wait and encode all charged');
    } finally {
      first.end('/image');
      second.end('/image');
      await image.close();
      await cache.close();
      await accounting.close();
    }
  }),
);
