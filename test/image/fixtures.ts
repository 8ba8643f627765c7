// Test fixtures for the image proxy: images generated with sharp at test start, a real origin
// server on 127.0.0.1 that also misbehaves on purpose, and a Fastify app
// with the image plugins. Tests use the real cache (src/cache).
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Cache } from '../../src/cache/types.js';
import { createCache } from '../../src/cache/index.js';
import { installErrorHandlers } from '../../src/server/error-handler.js';
import { imageAdminRoutes, imageRoutes } from '../../src/server/routes/image.js';
import type { ImageService, ImageServiceOptions } from '../../src/image/index.js';
import { resolveImageOptions } from '../../src/image/options.js';
import { keysFor, policyFingerprint } from '../../src/image/store.js';
import { sendPadded } from '../helpers/padded.js';

export interface Images {
  jpeg: Buffer;
  rotated: Buffer;
  png: Buffer;
  webp: Buffer;
  avif: Buffer;
  gif: Buffer;
  animated: Buffer;
  tiff: Buffer;
  big: Buffer;
  /** 5000 × 4000 of one colour: a small file whose decode is estimated at 80 MB. */
  flat: Buffer;
  bomb: Buffer;
  svg: Buffer;
  /** 16384 × 64 of one colour: wider than WebP allows and than IMAGE_MAX_OUTPUT_DIMENSION's default. */
  pano: Buffer;
  /** A TIFF of three 40 × 30 pages. */
  pages: Buffer;
}

let memo: Promise<Images> | undefined;

export function images(): Promise<Images> {
  memo ??= (async () => {
    const base = (w: number, h: number, alpha = false) =>
      sharp({ create: { width: w, height: h, channels: alpha ? 4 : 3, background: alpha ? { r: 0, g: 90, b: 200, alpha: 0.5 } : '#3a7' } });
    const frames = await Promise.all(
      ['#f00', '#0f0', '#00f'].map((c) =>
        sharp({ create: { width: 40, height: 30, channels: 4, background: c } })
          .png()
          .toBuffer(),
      ),
    );
    // >5 MiB: noise does not compress.
    const side = 2000;
    const big = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 100 })
      .toBuffer();
    return {
      jpeg: await base(800, 600).jpeg().toBuffer(),
      rotated: await base(80, 40).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
      png: await base(300, 200, true).png().toBuffer(),
      webp: await base(300, 200).webp().toBuffer(),
      avif: await base(64, 48).avif().toBuffer(),
      gif: await base(50, 50).gif().toBuffer(),
      animated: await sharp(frames, { join: { animated: true } })
        .gif()
        .toBuffer(),
      tiff: await base(120, 90).tiff().toBuffer(),
      big,
      flat: await base(5000, 4000).png().toBuffer(),
      bomb: pngClaiming(await base(1, 1).png().toBuffer(), 60_000, 60_000),
      pano: await base(16384, 64).png().toBuffer(),
      pages: await sharp(frames, { join: { animated: true } })
        .tiff()
        .toBuffer(),
      svg: Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>alert(1)</script><rect width="40" height="20" fill="red"/></svg>',
      ),
    };
  })();
  return memo;
}

/** A real PNG whose IHDR claims other dimensions (a decompression-bomb header), CRC fixed up. */
function pngClaiming(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

export interface Origin {
  url: string;
  port: number;
  hits: Map<string, number>;
  /** Responses of /held/… sent up to their `head` bytes and waiting for release(). */
  held(): number;
  /** Sends the rest of every held response. */
  release(): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  rotated: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  animated: 'image/gif',
  tiff: 'image/tiff',
  big: 'image/jpeg',
  flat: 'image/png',
  bomb: 'image/png',
  svg: 'image/svg+xml',
  pano: 'image/png',
  pages: 'image/tiff',
};

/** An origin on 127.0.0.1 (or another loopback address) serving /img/NAME plus misbehaving routes. */
export async function startOrigin(host = '127.0.0.1'): Promise<Origin> {
  const imgs = await images();
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const held = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    hits.set(u.pathname, (hits.get(u.pathname) ?? 0) + 1);
    const [, kind, arg, arg2] = u.pathname.split('/');
    const img = (name: string) => imgs[name as keyof Images];
    const send = (body: Buffer, type: string, extra: Record<string, string> = {}) => {
      res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'public, max-age=600', ...extra });
      res.end(body);
    };
    if (kind === 'img' && arg && img(arg)) return send(img(arg), TYPES[arg]!);
    if (kind === 'held' && arg && img(arg)) {
      // Headers and the first `head` bytes (default none) at once, the rest on release(): the
      // test decides when a fetch (or a transform collecting a large source) may finish.
      const b = img(arg);
      const head = Number(u.searchParams.get('head') ?? 0);
      res.writeHead(200, { 'content-type': TYPES[arg]!, 'content-length': b.length, 'cache-control': 'public, max-age=600' });
      if (head > 0) res.write(b.subarray(0, head));
      else res.flushHeaders();
      const finish = (): void => {
        held.delete(finish);
        res.end(b.subarray(head));
      };
      held.add(finish);
      res.once('close', () => held.delete(finish));
      return;
    }
    // The image then PADDING zeros: the pass-through has to wait for a client that does not read.
    if (kind === 'padded' && arg && img(arg)) return sendPadded(res, img(arg)!, TYPES[arg]!);
    if (kind === 'chunked' && arg && img(arg)) {
      res.writeHead(200, { 'content-type': TYPES[arg]! });
      const b = img(arg);
      for (let i = 0; i < b.length; i += 256 * 1024) res.write(b.subarray(i, i + 256 * 1024));
      return res.end();
    }
    if (kind === 'nostore' && arg && img(arg)) return send(img(arg), TYPES[arg]!, { 'cache-control': 'no-store' });
    if (kind === 'shortage' && arg && img(arg)) return send(img(arg), TYPES[arg]!, { 'cache-control': 'max-age=30' });
    if (kind === 'etag' && arg && img(arg)) return send(img(arg), TYPES[arg]!, { etag: '"v1"' });
    if (kind === 'redirect') {
      // /redirect/N/NAME: N hops, then the image.
      const n = Number(arg);
      res.writeHead(302, { location: n > 1 ? `/redirect/${n - 1}/${arg2}` : `/img/${arg2}` });
      return res.end();
    }
    if (kind === 'redirect-to') {
      res.writeHead(302, { location: u.searchParams.get('to') ?? '/' });
      return res.end();
    }
    if (kind === 'html-as-png') return send(Buffer.from('<html><body>not an image</body></html>'), 'image/png');
    if (kind === 'png-as-text') return send(imgs.png, 'text/plain');
    if (kind === 'status') {
      res.writeHead(Number(arg));
      return res.end('nope');
    }
    if (kind === 'slow-headers') return; // never answers; the client times out
    if (kind === 'slow-body') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': imgs.png.length });
      res.write(imgs.png.subarray(0, 100));
      return; // the rest never comes
    }
    if (kind === 'trickle' && arg && img(arg)) {
      // The first MiB at once, then one byte every 50 ms: never stalled, never done.
      const b = img(arg);
      res.writeHead(200, { 'content-type': TYPES[arg]!, 'content-length': b.length });
      res.write(b.subarray(0, 1024 * 1024));
      let at = 1024 * 1024;
      const drip = setInterval(() => res.write(b.subarray(at, ++at)), 50);
      res.once('close', () => clearInterval(drip));
      return;
    }
    if (kind === 'truncated') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': imgs.png.length });
      // Cut off once the first bytes are out.
      res.write(imgs.png.subarray(0, 100), () => res.socket?.destroy());
      return;
    }
    res.writeHead(404);
    res.end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    hits,
    held: () => held.size,
    release: () => {
      for (const finish of [...held]) finish();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The real two-tier cache (L1 only) as the gateway creates it. */
export function testCache(): Cache {
  return createCache({ l1: { maxBytes: 64 * 1024 ** 2 } });
}

/** The cache key of a source URL's original bytes in a service made with `options`. */
export const srcKey = (url: string, options: ImageServiceOptions): string =>
  keysFor(url, policyFingerprint(resolveImageOptions(options))).src;

export async function buildImageApp(image: ImageService): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  installErrorHandlers(app);
  await app.register(imageRoutes, { image });
  await app.register(imageAdminRoutes, { image, prefix: '/admin' });
  await app.ready();
  return app;
}

/** A resolver that maps test hostnames to fixed addresses (no real DNS). */
export function fakeLookup(table: Record<string, string>) {
  return (
    hostname: string,
    _o: unknown,
    cb: (err: NodeJS.ErrnoException | null, a: { address: string; family: number }[]) => void,
  ): void => {
    const address = table[hostname];
    if (!address) return cb(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    cb(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
  };
}
