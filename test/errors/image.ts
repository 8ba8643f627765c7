// Codes of the image proxy, through the gateway's GET /image and real origin responses.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { createCache } from '../../src/cache/index.js';
import { createImageService } from '../../src/image/index.js';
import { loadWith } from '../../src/image/sharp-settings.js';
import { request } from '../helpers/http.js';
import { fromRejection, fromResponse, sharedGateway, sharedOrigin, type Cases, type Raised } from './fixtures.js';

/** GET /image for a source on the shared origin (or any URL), with extra query parameters. */
async function image(src: string, params = ''): Promise<Raised> {
  const gw = await sharedGateway();
  const url = src.startsWith('http') ? src : `${(await sharedOrigin()).url}${src}`;
  return fromResponse(await request(`${gw.url}/image?url=${encodeURIComponent(url)}${params}`));
}

export const imageCases: Cases = {
  HEADROOM_IMAGE_ORIGIN_FORBIDDEN: () => image('http://127.0.0.2:9/img.png'), // not in IMAGE_ALLOWED_ORIGINS
  HEADROOM_IMAGE_TOO_LARGE: () => image('/big.png', '&w=4'), // over IMAGE_MAX_SOURCE_BYTES (2 KiB)
  HEADROOM_IMAGE_UNSUPPORTED: () => image('/text', '&w=4'),
  HEADROOM_IMAGE_TIMEOUT: () => image('/hang', '&w=4'), // IMAGE_TIMEOUT is 500 ms
  HEADROOM_IMAGE_FETCH_FAILED: () => image('/fail', '&w=4'),
  HEADROOM_IMAGE_TOO_MANY_PIXELS: () => image('/img.png', '&w=100000'),
  // 25 MP of noise as WebP takes seconds of libvips work; IMAGE_TRANSFORM_TIMEOUT (1 s) stops it.
  HEADROOM_IMAGE_TRANSFORM_TIMEOUT: async () => {
    const side = 5000;
    const noise = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 75 })
      .toBuffer();
    const origin = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': noise.length }).end(noise),
    );
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const src = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const cache = createCache({ l1: { maxBytes: 1024 * 1024 } });
    const service = createImageService({
      cache,
      allowedOrigins: [src],
      allowPrivateNetworks: true,
      transformTimeout: 1000,
      maxSourceBytes: 64 * 1024 ** 2,
    });
    try {
      return await fromRejection(service.handle({ query: { url: `${src}/noise.jpg`, format: 'webp' } }));
    } finally {
      await service.close();
      await cache.close();
      await new Promise((resolve) => origin.close(resolve));
    }
  },
  // A sharp that cannot be loaded (here: a package that is not installed), through the image part's loader.
  HEADROOM_IMAGE_SHARP_UNAVAILABLE: () => {
    const missing = 'headroom-test-sharp-not-installed';
    return fromRejection(loadWith(() => import(missing)));
  },
  HEADROOM_CLIENT_CLOSED: async () => {
    // A caller whose client already left: answered at once, no work started.
    const cache = createCache({ l1: { maxBytes: 1024 * 1024 } });
    const service = createImageService({ cache, allowedOrigins: ['http://127.0.0.2:9'] });
    try {
      return await fromRejection(service.handle({ query: { url: 'http://127.0.0.2:9/a.png' }, signal: AbortSignal.abort() }));
    } finally {
      await service.close();
      await cache.close();
    }
  },
};
