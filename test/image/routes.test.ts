// GET /image and /image/meta end to end: a real origin on 127.0.0.1, the plugin in a Fastify app.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, get as httpGet, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import sharp from 'sharp';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { createImageService, type ImageService, type ImageServiceOptions } from '../../src/image/index.js';
import { registerImageMetrics } from '../../src/metrics/image.js';
import { createAdmission } from '../../src/admission/index.js';
import type { Cache } from '../../src/cache/types.js';
import { waitFor } from '../helpers/wait.js';
import { buildImageApp, images, srcKey, startOrigin, testCache, type Images, type Origin } from './fixtures.js';

let origin: Origin;
let imgs: Images;
const open: { app: FastifyInstance; image: ImageService; cache: Cache }[] = [];

async function setup(extra: Partial<ImageServiceOptions> = {}) {
  const cache = testCache();
  const options: ImageServiceOptions = { cache, allowedOrigins: [origin.url], allowPrivateNetworks: true, timeout: 3000, ...extra };
  const image = createImageService(options);
  const app = await buildImageApp(image);
  open.push({ app, image, cache });
  const get = (path: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: path, headers });
  const q = (src: string, params = '') => `/image?url=${encodeURIComponent(origin.url + src)}${params}`;
  return { app, image, cache, get, q, srcKeyOf: (src: string) => srcKey(origin.url + src, options) };
}

before(async () => {
  imgs = await images();
  origin = await startOrigin();
});
after(async () => {
  for (const { app, image, cache } of open) {
    await app.close();
    await image.close();
    await cache.close();
  }
  await origin.close();
});

describe('originals', () => {
  test('served with type, length, strong ETag, Cache-Control; then from cache; If-None-Match → 304', async () => {
    const { get, q, image, cache, srcKeyOf } = await setup();
    const r = await get(q('/img/jpeg'));
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'image/jpeg');
    assert.equal(r.headers['content-length'], String(imgs.jpeg.length));
    assert.equal(r.headers['cache-control'], 'public, max-age=600', 'origin max-age is the ceiling');
    assert.match(String(r.headers.etag), /^"[A-Za-z0-9_-]+"$/);
    assert.deepEqual(r.rawPayload, imgs.jpeg);
    const stored = await cache.get(srcKeyOf('/img/jpeg'));
    assert.ok(Buffer.isBuffer(stored) && stored.equals(imgs.jpeg), 'raw bytes cached as a Buffer (no base64/JSON)');
    const r2 = await get(q('/img/jpeg'));
    assert.deepEqual(r2.rawPayload, imgs.jpeg);
    assert.equal(origin.hits.get('/img/jpeg'), 1, 'second request served from cache');
    const r3 = await get(q('/img/jpeg'), { 'if-none-match': String(r.headers.etag) });
    assert.equal(r3.statusCode, 304);
    assert.equal(r3.rawPayload.length, 0);
    const s = image.stats();
    assert.equal(s.misses, 1);
    assert.ok(s.hits >= 2);
    assert.equal(s.notModified, 1);
  });

  test('every accepted format is served by its bytes, whatever the origin claims', async () => {
    const { get, q } = await setup();
    for (const [name, type] of [
      ['png', 'image/png'],
      ['webp', 'image/webp'],
      ['avif', 'image/avif'],
      ['gif', 'image/gif'],
      ['tiff', 'image/tiff'],
    ] as const) {
      const r = await get(q(`/img/${name}`));
      assert.equal(r.statusCode, 200, name);
      assert.equal(r.headers['content-type'], type, name);
    }
    const asText = await get(q('/png-as-text'));
    assert.equal(asText.headers['content-type'], 'image/png');
    const html = await get(q('/html-as-png'));
    assert.equal(html.statusCode, 415);
    assert.equal(html.json().error.code, 'HEADROOM_IMAGE_UNSUPPORTED');
  });

  test('SVG is refused by default; allowed, it carries a script-blocking CSP', async () => {
    const off = await setup();
    assert.equal((await off.get(off.q('/img/svg'))).statusCode, 415);
    const on = await setup({ allowSvg: true });
    const r = await on.get(on.q('/img/svg'));
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'image/svg+xml');
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'.*sandbox/);
  });

  test('> IMAGE_MAX_CACHE_SIZE streams through uncached; metadata is still cached', async () => {
    assert.ok(imgs.big.length > 5 * 1024 * 1024, `fixture is ${imgs.big.length} bytes`);
    const { get, q, cache, image, srcKeyOf } = await setup();
    const r = await get(q('/img/big'));
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], String(imgs.big.length));
    assert.ok(r.rawPayload.equals(imgs.big));
    assert.equal(await cache.get(srcKeyOf('/img/big')), undefined, 'large original not cached');
    assert.equal(image.stats().passThrough, 1);
    const meta = (await get(`/image/meta?url=${encodeURIComponent(`${origin.url}/img/big`)}`)).json();
    assert.deepEqual([meta.width, meta.height, meta.bytes, meta.cached, meta.format], [2000, 2000, imgs.big.length, false, 'jpeg']);
    // A streamed original's ETag derives from the origin's strong ETag; 304 comes from metadata.
    const tagged = await get(q('/etag/big'));
    assert.match(String(tagged.headers.etag), /^"o-/);
    const hitsBefore = origin.hits.get('/etag/big');
    const nm = await get(q('/etag/big'), { 'if-none-match': String(tagged.headers.etag) });
    assert.equal(nm.statusCode, 304);
    assert.equal(origin.hits.get('/etag/big'), hitsBefore, 'answered without contacting the origin');
    // Without Content-Length the body is still bounded and streamed.
    const chunked = await get(q('/chunked/big'));
    assert.equal(chunked.statusCode, 200);
    assert.ok(chunked.rawPayload.equals(imgs.big));
  });

  test('/image/meta for a small image, and its parameter checks', async () => {
    const { get, q } = await setup();
    const r = await get(`/image/meta?url=${encodeURIComponent(`${origin.url}/img/png`)}`);
    assert.equal(r.statusCode, 200);
    const m = r.json();
    assert.deepEqual([m.contentType, m.width, m.height, m.bytes, m.cached], ['image/png', 300, 200, imgs.png.length, true]);
    // The ETag (hashed lazily from the cached bytes) is the one the original is served with,
    // also once the metadata comes from the cache.
    const original = await get(q('/img/png'));
    assert.equal(m.etag, original.headers.etag);
    assert.equal((await get(`/image/meta?url=${encodeURIComponent(`${origin.url}/img/png`)}`)).json().etag, m.etag);
    const bad = await get(`/image/meta?url=${encodeURIComponent(`${origin.url}/img/png`)}&w=3`);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /unknown query parameter "w"/);
  });
});

describe('transforms', () => {
  test('resize + format, cached by (url, params, format); format=auto follows Accept with Vary', async () => {
    const { get, q, image } = await setup();
    const fetchedBefore = origin.hits.get('/img/jpeg') ?? 0;
    const r = await get(q('/img/jpeg', '&w=100&format=webp'));
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'image/webp');
    const m = await sharp(r.rawPayload).metadata();
    assert.deepEqual([m.format, m.width, m.height], ['webp', 100, 75]);
    assert.equal(r.headers.vary, undefined);
    await get(q('/img/jpeg', '&w=100&format=webp'));
    assert.equal(image.stats().transforms, 1, 'variant served from cache');
    const auto = await get(q('/img/jpeg', '&w=100&format=auto'), { accept: 'image/avif,image/webp,*/*' });
    assert.equal(auto.headers['content-type'], 'image/webp');
    assert.equal(auto.headers.vary, 'Accept');
    const old = await get(q('/img/jpeg', '&w=100&format=auto'), { accept: 'image/jpeg,*/*' });
    assert.equal(old.headers['content-type'], 'image/jpeg');
    assert.equal(old.headers.vary, 'Accept');
    const etag = String(auto.headers.etag);
    const nm = await get(q('/img/jpeg', '&w=100&format=auto'), { accept: 'image/webp', 'if-none-match': etag });
    assert.equal(nm.statusCode, 304);
    assert.equal(origin.hits.get('/img/jpeg'), fetchedBefore + 1, 'one source fetch for every variant');
  });

  test('EXIF orientation applied and metadata stripped', async () => {
    const { get, q } = await setup();
    const r = await get(q('/img/rotated', '&w=20'));
    const m = await sharp(r.rawPayload).metadata();
    assert.deepEqual([m.width, m.height], [20, 40], 'the 80×40 source with orientation 6 is portrait');
    assert.equal(m.exif, undefined);
    assert.equal(m.orientation, undefined);
  });

  test('non-web sources fall back to jpeg/png; animated keeps frames as webp, passes through as jpeg', async () => {
    const { get, q } = await setup();
    assert.equal((await get(q('/img/tiff', '&w=50'))).headers['content-type'], 'image/jpeg');
    assert.equal((await get(q('/img/png', '&w=50'))).headers['content-type'], 'image/png');
    const anim = await get(q('/img/animated', '&w=20&format=webp'));
    const m = await sharp(anim.rawPayload, { animated: true }).metadata();
    assert.equal(m.pages, 3);
    assert.equal(m.width, 20);
    const asJpeg = await get(q('/img/animated', '&w=20&format=jpeg'));
    assert.equal(asJpeg.headers['content-type'], 'image/gif');
    assert.ok(asJpeg.rawPayload.equals(imgs.animated), 'animated image passed through untransformed');
  });

  test("a streamed GIF's frames are not all counted from its first bytes: its decode is admitted at the worst the pixel limit allows", async () => {
    const metaOf = async (get: (p: string) => Promise<{ json(): { pages: number; pagesExact: boolean } }>, src: string) =>
      (await get(`/image/meta?url=${encodeURIComponent(origin.url + src)}`)).json();
    const buffered = await setup();
    assert.deepEqual(await metaOf(buffered.get, '/img/animated').then((m) => [m.pages, m.pagesExact]), [3, true]);
    // Every source streams through (IMAGE_MAX_CACHE_SIZE=0): a GIF's frame count is a lower bound.
    const tight = await setup({ maxCacheSize: 0, memoryBudget: 16 * 1024 ** 2, maxInputPixels: 10_000_000 });
    assert.deepEqual(await metaOf(tight.get, '/img/animated').then((m) => [m.pages, m.pagesExact]), [3, false]);
    assert.equal((await metaOf(tight.get, '/img/png')).pagesExact, true, 'one frame of a format that says so in its header');
    const refused = await tight.get(tight.q('/img/animated', '&w=20&format=webp'));
    assert.equal(refused.statusCode, 503, refused.body);
    assert.equal(refused.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
    assert.match(refused.json().error.message, /needs about 4\d{7} bytes/);
    // Within the budget at the worst the (lower) pixel limit allows: transformed, every frame kept.
    const fits = await setup({ maxCacheSize: 0, memoryBudget: 16 * 1024 ** 2, maxInputPixels: 2_000_000 });
    const r = await fits.get(fits.q('/img/animated', '&w=20&format=webp'));
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await sharp(r.rawPayload, { animated: true }).metadata()).pages, 3);
  });

  test('a transform running longer than IMAGE_TRANSFORM_TIMEOUT is stopped: 504, its slot free again', async () => {
    // 25 MP of noise as WebP: seconds of libvips work (3.7 s for 16 MP on the 2-core dev VM), stopped after 1 s.
    const side = 5000;
    const noise = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 75 })
      .toBuffer();
    const slow = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': noise.length });
      res.end(noise);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const src = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    try {
      const { get, image } = await setup({ allowedOrigins: [src], transformTimeout: 1000, maxSourceBytes: 64 * 1024 ** 2, concurrency: 1 });
      const started = performance.now();
      const r = await get(`/image?url=${encodeURIComponent(`${src}/noise.jpg`)}&format=webp`);
      assert.equal(r.statusCode, 504, r.body);
      assert.equal(r.json().error.code, 'HEADROOM_IMAGE_TRANSFORM_TIMEOUT');
      assert.match(r.json().error.message, /IMAGE_TRANSFORM_TIMEOUT \(1 s\)/);
      assert.ok(performance.now() - started < 30_000);
      assert.equal(image.stats().queue.active, 0, 'the slot is free');
      const again = await get(`/image?url=${encodeURIComponent(`${src}/noise.jpg`)}&w=64&format=jpeg`);
      assert.equal(again.statusCode, 200, `the next transform runs: ${again.body}`);
    } finally {
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  test('large sources are transformed through the queue', async () => {
    const { get, q, image } = await setup();
    const r = await get(q('/img/big', '&w=200&format=webp'));
    assert.equal(r.statusCode, 200);
    assert.equal((await sharp(r.rawPayload).metadata()).width, 200);
    assert.equal(image.stats().queue.active, 0);
  });

  test('pixel bomb refused from its header; output dimension bounded', async () => {
    const { get, q } = await setup({ maxOutputDimension: 1000 });
    const bomb = await get(q('/img/bomb', '&w=100'));
    assert.equal(bomb.statusCode, 400);
    assert.equal(bomb.json().error.code, 'HEADROOM_IMAGE_TOO_MANY_PIXELS');
    assert.match(bomb.json().error.message, /60000×60000/);
    const wide = await get(q('/img/png', '&w=1001'));
    assert.equal(wide.statusCode, 400);
    assert.match(wide.json().error.message, /^w must be an integer between 1 and 1000 \(IMAGE_MAX_OUTPUT_DIMENSION\), got 1001$/);
    // However many digits: the same code and message (ten digits were a plain 400 before).
    const huge = await get(q('/img/png', '&h=99999999999999999999'));
    assert.equal(huge.json().error.code, 'HEADROOM_IMAGE_TOO_MANY_PIXELS');
    assert.equal(huge.json().error.message, 'h must be an integer between 1 and 1000 (IMAGE_MAX_OUTPUT_DIMENSION), got 999999999999…');
  });

  test('every transformed output fits IMAGE_MAX_OUTPUT_DIMENSION in both dimensions; an original passes through as it is', async () => {
    const { get, q } = await setup({ maxOutputDimension: 1000 });
    // The 16384 × 64 panorama: a free side used to stay at the source's size.
    for (const params of ['&q=10&format=jpeg', '&h=64&format=jpeg', '&w=10&h=64&fit=outside&format=png', '&format=webp']) {
      const r = await get(q('/img/pano', params));
      assert.equal(r.statusCode, 200, `${params}: ${r.body}`);
      const m = await sharp(r.rawPayload).metadata();
      assert.deepEqual([m.width, m.height], [1000, 4], params);
    }
    const original = await get(q('/img/pano'));
    assert.ok(original.rawPayload.equals(imgs.pano), 'untransformed original');
  });

  test('WebP outputs stop at 16383 px (its limit) when IMAGE_MAX_OUTPUT_DIMENSION allows 16384; other formats do not', async () => {
    const { get, q } = await setup({ maxOutputDimension: 16384 });
    const bounded = await get(q('/img/pano', '&format=webp'));
    assert.equal(bounded.statusCode, 200, bounded.body);
    assert.equal((await sharp(bounded.rawPayload).metadata()).width, 16383);
    const refused = await get(q('/img/pano', '&w=16384&format=webp'));
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json().error.code, 'HEADROOM_IMAGE_TOO_MANY_PIXELS');
    assert.equal(
      refused.json().error.message,
      "w must be at most 16383 for a WebP output (the WebP format's limit), got 16384; ask for a smaller size or another format",
    );
    const png = await get(q('/img/pano', '&w=16384&format=png'));
    assert.equal((await sharp(png.rawPayload).metadata()).width, 16384);
  });

  test("a multi-page TIFF is transformed from its first page (its pages are not an animation's frames)", async () => {
    const { get, q } = await setup();
    const r = await get(q('/img/pages', '&w=20'));
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['content-type'], 'image/jpeg');
    const m = await sharp(r.rawPayload).metadata();
    assert.deepEqual([m.format, m.width, m.height, m.pages ?? 1], ['jpeg', 20, 15, 1]);
  });

  test('format=auto that passes an animated original through still sends Vary: Accept', async () => {
    const { get, q } = await setup();
    // Accept allows AVIF but not WebP: AVIF cannot keep the frames, so the GIF is served as it is.
    const r = await get(q('/img/animated', '&w=20&format=auto'), { accept: 'image/avif' });
    assert.equal(r.headers['content-type'], 'image/gif');
    assert.ok(r.rawPayload.equals(imgs.animated));
    assert.equal(r.headers.vary, 'Accept');
    const asked = await get(q('/img/animated', '&w=20&format=jpeg'));
    assert.equal(asked.headers.vary, undefined, 'an explicit format does not depend on Accept');
  });

  test('query parameters are validated with messages naming the parameter', async () => {
    const { get, q, image } = await setup();
    // A library caller's query that is not an object: a 400 naming it, not a TypeError.
    for (const query of [null, 'url=x', ['url']])
      await assert.rejects(image.handle({ query: query as never }), {
        code: 'HEADROOM_BAD_REQUEST',
        message: /^the query must be an object of parameters \(url, w, h, …\), got (null|string|an array)$/,
      });
    const cases: [string, RegExp][] = [
      [q('/img/png', '&w=abc'), /^w must be an integer/],
      [q('/img/png', '&h=0'), /^h must be an integer between 1 and/],
      [q('/img/png', '&q=101'), /^q must be an integer between 1 and 100, got 101$/],
      [q('/img/png', '&format=bmp'), /^format must be one of webp, avif, jpeg, png, auto/],
      [q('/img/png', '&fit=stretch'), /^fit must be one of cover, contain, fill, inside, outside/],
      [q('/img/png', '&w=1&w=2'), /^w must be given once/],
      [q('/img/png', '&size=3'), /unknown query parameter "size"; accepted: url, w, h, fit, q, format/],
      ['/image', /^url is required/],
      ['/image?url=not-a-url', /^url must be an absolute http or https URL/],
      ['/image?url=file%3A%2F%2F%2Fetc%2Fpasswd', /^url must be an absolute http or https URL, not file:/],
    ];
    for (const [path, message] of cases) {
      const r = await get(path);
      assert.equal(r.statusCode, 400, path);
      assert.equal(r.json().error.code, 'HEADROOM_BAD_REQUEST', path);
      assert.match(r.json().error.message, message, path);
    }
  });

  test('one source fetch and one transform for concurrent requests (single-flight)', async () => {
    const { get, q, image } = await setup();
    // The origin holds its answer until every request has joined the one flight.
    const variants = Promise.all(Array.from({ length: 6 }, () => get(q('/held/webp', '&w=64'))));
    await waitFor(() => image.stats().singleFlightShared === 5 && origin.held() === 1, "five requests join the first one's source fetch");
    origin.release();
    const rs = await variants;
    assert.ok(rs.every((r) => r.statusCode === 200));
    assert.equal(origin.hits.get('/held/webp'), 1);
    assert.equal(image.stats().transforms, 1);
    const shared = image.stats().singleFlightShared;
    const pending = Promise.all(Array.from({ length: 4 }, () => get(q('/held/gif'))));
    await waitFor(
      () => image.stats().singleFlightShared === shared + 3 && origin.held() === 1,
      'three requests join the first fetch of the original',
    );
    origin.release();
    const originals = await pending;
    assert.ok(originals.every((r) => r.rawPayload.equals(imgs.gif)));
    assert.equal(origin.hits.get('/held/gif'), 1);
  });

  test('a full transform queue answers 503 HEADROOM_OVERLOADED with Retry-After; the running transform completes', async () => {
    // One slot, no waiting room: the first transform holds the slot while it collects a large
    // source that the origin holds mid-body.
    const { get, q, image } = await setup({ concurrency: 1, queueSize: 0, encodeConcurrency: 0, timeout: 30_000, queueTimeout: 30_000 });
    const first = get(q('/held/big?head=131072', '&w=400&format=avif'));
    await waitFor(() => image.stats().queue.active === 1, 'the first transform holds the slot');
    const refused = await get(q('/img/jpeg', '&w=100'));
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.json().error.code, 'HEADROOM_OVERLOADED');
    assert.match(refused.json().error.message, /IMAGE_QUEUE_SIZE/);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.equal(image.stats().rejections.overloaded, 1);
    origin.release();
    const r = await first;
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'image/avif');
    assert.equal((await get(q('/img/jpeg', '&w=100'))).statusCode, 200, 'served once the slot is free');
  });
});

describe('origin failures and limits', () => {
  test('redirects are followed up to IMAGE_MAX_REDIRECTS', async () => {
    const { get, q } = await setup({ maxRedirects: 3 });
    assert.equal((await get(q('/redirect/3/png'))).statusCode, 200);
    const tooMany = await get(q('/redirect/4/png'));
    assert.equal(tooMany.statusCode, 502);
    assert.match(tooMany.json().error.message, /IMAGE_MAX_REDIRECTS/);
  });

  test('a redirect to a non-http(s) scheme is the origin failing: 502 naming the scheme, not 400', async () => {
    const { get, q } = await setup();
    for (const [to, scheme] of [
      ['file:///etc/passwd', 'file:'],
      ['gopher://127.0.0.1:70/_x', 'gopher:'],
      ['data:image/png;base64,iVBORw0KGgo=', 'data:'],
    ] as const) {
      const r = await get(q(`/redirect-to?to=${encodeURIComponent(to)}`));
      assert.equal(r.statusCode, 502, `${to}: ${r.body}`);
      assert.equal(r.json().error.code, 'HEADROOM_IMAGE_FETCH_FAILED');
      assert.ok(r.json().error.message.includes(`redirected to a ${scheme} URL`), r.body);
    }
  });

  test(
    'HEAD on a large original passed through answers the headers and stops the download from the origin',
    { timeout: 30_000 },
    async () => {
      const { app } = await setup({ timeout: 20_000 }); // not what closes it
      const base = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
      const path = `/image?url=${encodeURIComponent(`${origin.url}/held/big?head=131072`)}`;
      const head = await new Promise<{ status: number; length: string | undefined }>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port: Number(base.port), path, method: 'HEAD' }, (res) => {
          res.resume();
          resolve({ status: res.statusCode!, length: res.headers['content-length'] });
        })
          .on('error', reject)
          .end();
      });
      assert.deepEqual(head, { status: 200, length: String(imgs.big.length) }, 'the headers a GET gets');
      // Fastify's HEAD route would pipe the whole original to nowhere: up to IMAGE_MAX_SOURCE_BYTES
      // fetched for a request of a few hundred bytes.
      await waitFor(() => origin.held() === 0, 'the origin response to be closed, not read to its end', 5_000);
    },
  );

  test(
    'a large original passed through is cut when the origin trickles past IMAGE_TIMEOUT (time spent on the client is not counted)',
    { timeout: 30_000 },
    async () => {
      const { app, image } = await setup({ timeout: 1000 });
      const base = await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `${base}/image?url=${encodeURIComponent(`${origin.url}/trickle/big`)}`;
      const started = performance.now();
      const outcome = await new Promise<{ status: number; bytes: number; ended: string }>((resolve, reject) => {
        httpGet(url, (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => (bytes += c.length));
          res.on('end', () => resolve({ status: res.statusCode!, bytes, ended: 'end' }));
          res.on('error', () => resolve({ status: res.statusCode!, bytes, ended: 'error' }));
          res.on('aborted', () => resolve({ status: res.statusCode!, bytes, ended: 'aborted' }));
        }).on('error', reject);
      });
      assert.equal(outcome.status, 200, 'headers (and the first MiB) were sent before the trickle');
      assert.notEqual(outcome.ended, 'end', 'the body did not end normally');
      assert.ok(outcome.bytes < imgs.big.length, `${outcome.bytes} of ${imgs.big.length} bytes`);
      const ms = performance.now() - started;
      assert.ok(ms < 10_000, `cut after ${Math.round(ms)} ms (IMAGE_TIMEOUT 1000 ms)`);
      await waitFor(() => image.stats().rejections.timeout === 1, 'the cut counted as a timeout');
    },
  );

  test(
    'a client that stops reading a passed-through original is cut after clientReadTimeout and its upstream slot freed',
    { timeout: 30_000 },
    async () => {
      const admission = createAdmission({ maxConcurrent: 1, queueSize: 0 });
      try {
        const { app, image } = await setup({ timeout: 1000, clientReadTimeout: 1000, admission });
        const base = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
        const socket = connect(Number(base.port), '127.0.0.1');
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        socket.on('error', () => undefined);
        const url = `/image?url=${encodeURIComponent(`${origin.url}/padded/big`)}`;
        socket.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        socket.pause(); // reads nothing: the kernel's and Node's buffers fill, then the pass-through waits
        await waitFor(() => admission.stats().inFlight === 1, 'the origin fetch holds the slot');
        await waitFor(() => image.stats().rejections.request_timeout === 1, 'the stalled client counted', 10_000);
        assert.equal(admission.stats().inFlight, 0, 'the slot is free');
        socket.resume(); // what the buffers held, then the end the server sent
        await closed;
        const next = await app.inject({ method: 'GET', url: `/image?url=${encodeURIComponent(`${origin.url}/img/png`)}` });
        assert.equal(next.statusCode, 200, 'the next image gets the slot');
      } finally {
        await admission.close();
      }
    },
  );

  test('non-2xx → 502, slow headers or body → 504, truncated body → 502', async () => {
    const { get, q, image } = await setup({ timeout: 400 });
    assert.equal((await get(q('/status/500'))).statusCode, 502);
    assert.equal((await get(q('/status/404'))).json().error.code, 'HEADROOM_IMAGE_FETCH_FAILED');
    const slow = await get(q('/slow-headers'));
    assert.equal(slow.statusCode, 504);
    assert.equal(slow.json().error.code, 'HEADROOM_IMAGE_TIMEOUT');
    assert.equal((await get(q('/slow-body'))).statusCode, 504);
    const cut = await get(q('/truncated'));
    assert.equal(cut.statusCode, 502);
    const rej = image.stats().rejections;
    assert.equal(rej.timeout, 2);
    assert.equal(rej.fetch_failed, 3);
  });

  test('IMAGE_MAX_SOURCE_BYTES enforced from Content-Length and while reading', async () => {
    const { get, q } = await setup({ maxSourceBytes: 1024 * 1024 });
    const declared = await get(q('/img/big'));
    assert.equal(declared.statusCode, 413);
    assert.equal(declared.json().error.code, 'HEADROOM_IMAGE_TOO_LARGE');
    assert.equal((await get(q('/chunked/big'))).statusCode, 413);
  });

  test('Cache-Control: origin max-age as ceiling or floor; no-store is not cached', async () => {
    const ceiling = await setup({ cacheTtl: 3_600_000 });
    assert.equal((await ceiling.get(ceiling.q('/shortage/png'))).headers['cache-control'], 'public, max-age=30');
    const before = origin.hits.get('/nostore/png') ?? 0;
    const ns = await ceiling.get(ceiling.q('/nostore/png'));
    assert.equal(ns.headers['cache-control'], 'no-cache');
    await ceiling.get(ceiling.q('/nostore/png'));
    assert.equal(origin.hits.get('/nostore/png'), before + 2, 'no-store source fetched each time');
    const floor = await setup({ cacheTtl: 10_000, originMaxAge: 'floor' });
    assert.equal((await floor.get(floor.q('/img/webp'))).headers['cache-control'], 'public, max-age=600');
    const ignore = await setup({ cacheTtl: 10_000, originMaxAge: 'ignore' });
    assert.equal((await ignore.get(ignore.q('/img/webp'))).headers['cache-control'], 'public, max-age=10');
  });

  test('a hit (original, variant, 304) says how long it is still fresh, never the full max-age again', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const { get, q } = await setup();
    const first = await get(q('/img/jpeg'));
    assert.equal(first.headers['cache-control'], 'public, max-age=600');
    assert.equal((await get(q('/img/png', '&w=10'))).headers['cache-control'], 'public, max-age=600');
    t.mock.timers.tick(200_000);
    const hit = await get(q('/img/jpeg'));
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['cache-control'], 'public, max-age=400', 'fetched 200 s ago with max-age=600');
    const nm = await get(q('/img/jpeg'), { 'if-none-match': String(first.headers.etag) });
    assert.equal(nm.statusCode, 304);
    assert.equal(nm.headers['cache-control'], 'public, max-age=400');
    const variantHit = await get(q('/img/png', '&w=10'));
    assert.equal(variantHit.headers['x-cache'], 'HIT');
    assert.equal(variantHit.headers['cache-control'], 'public, max-age=400');
    // A variant made later than its source expires with the source.
    const late = await get(q('/img/png', '&w=12'));
    assert.equal(late.headers['x-cache'], 'MISS');
    assert.equal(late.headers['cache-control'], 'public, max-age=400');
  });
});

describe('stats and metrics', () => {
  test('/admin/image-stats has the cache index fields and counters; metrics export them', async () => {
    const { get, q, image } = await setup();
    await get(q('/img/png'));
    await get(q('/img/png', '&w=10'));
    await get(q('/html-as-png'));
    const s = (await get('/admin/image-stats')).json();
    for (const k of ['totalImages', 'totalSize', 'oldestCache', 'newestCache', 'hits', 'misses', 'bytesServed', 'transforms', 'rejections'])
      assert.ok(k in s, k);
    assert.equal(s.totalImages, 2);
    assert.ok(s.totalSize > imgs.png.length);
    assert.ok(s.oldestCache <= s.newestCache);
    assert.equal(s.rejections.unsupported, 1);
    const registry = new Registry();
    registerImageMetrics(registry, image);
    const text = await registry.metrics();
    assert.match(text, /headroom_image_requests_total\{result="miss"\} 2/);
    assert.match(text, /headroom_image_rejections_total\{reason="unsupported"\} 1/);
    assert.match(text, /headroom_image_transforms_total 1/);
    // Gauges of the slots and the encode stage, idle now.
    for (const g of [
      'transforms_active',
      'transforms_lent',
      'transforms_queued',
      'transform_reserved_bytes',
      'encodes_active',
      'encodes_queued',
    ]) {
      assert.match(text, new RegExp(`headroom_image_${g} 0\\n`));
    }
  });
});
