// The built-in demo origin started when no UPSTREAM_URL is set, so a newcomer sees proxying,
// caching and images working: a small JSON API, large streamed downloads and generated images.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Sharp, SharpOptions } from 'sharp';

export interface DemoOrigin {
  url: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const ITEMS = Array.from({ length: 50 }, (_, i) => ({ id: i + 1, name: `item ${i + 1}`, price: ((i * 7919) % 10_000) / 100 }));
const MAX_DOWNLOAD = 1024 ** 3;
const CHUNK = Buffer.alloc(64 * 1024, 'headroom demo bytes\n');
const IMAGE_FORMATS = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;
type ImageFormat = keyof typeof IMAGE_FORMATS;

function json(res: ServerResponse, status: number, body: unknown, cacheControl = 'public, max-age=30'): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': cacheControl,
  });
  res.end(text);
}

/** Streams `size` bytes with backpressure, never holding more than one 64 KiB chunk. */
function download(res: ServerResponse, size: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
  let left = size;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => {
    left = 0;
  });
  pump();
}

// sharp (and libvips) is loaded with the first demo image, not when the demo origin starts.
let sharpModule: Promise<(input: Buffer, options: SharpOptions) => Sharp> | undefined;
const loadSharp = (): Promise<(input: Buffer, options: SharpOptions) => Sharp> => (sharpModule ??= import('sharp').then((m) => m.default));

// A gradient with a few shapes, rendered by sharp from raw pixels; memoised per size and format.
const imageCache = new Map<string, Promise<Buffer>>();
function demoImage(width: number, height: number, format: ImageFormat): Promise<Buffer> {
  const key = `${width}x${height}.${format}`;
  let p = imageCache.get(key);
  if (!p) {
    const raw = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        raw[o] = Math.round((x / width) * 255);
        raw[o + 1] = Math.round((y / height) * 255);
        raw[o + 2] = ((x >> 5) + (y >> 5)) % 2 ? 200 : 60;
      }
    }
    p = loadSharp().then((sharp) => {
      const img = sharp(raw, { raw: { width, height, channels: 3 } });
      return (format === 'jpg' ? img.jpeg({ quality: 85 }) : format === 'png' ? img.png() : img.webp()).toBuffer();
    });
    if (imageCache.size >= 16) imageCache.delete(imageCache.keys().next().value as string);
    imageCache.set(key, p);
  }
  return p;
}

function demoSize(raw: string | null, fallback: number): number {
  const n = Number(raw ?? fallback) || fallback;
  return Math.min(Math.max(Math.round(n / 200) * 200, 200), 2400);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://demo.invalid');
  const path = url.pathname;
  if (path === '/' || path === '/index.json') {
    return json(res, 200, {
      name: 'headroom demo origin',
      endpoints: [
        '/items',
        '/items/:id',
        '/download?size=BYTES',
        '/slow?ms=MS',
        '/echo (any method)',
        '/images/demo.jpg?w=&h=',
        '/images/demo.png',
        '/images/demo.webp',
      ],
    });
  }
  if (path === '/items') return json(res, 200, { items: ITEMS, total: ITEMS.length });
  const item = /^\/items\/(\d+)$/.exec(path);
  if (item) {
    const found = ITEMS.find((i) => i.id === Number(item[1]));
    return found ? json(res, 200, found) : json(res, 404, { error: 'no such item' }, 'no-store');
  }
  if (path === '/download') {
    const size = Number(url.searchParams.get('size') ?? 10 * 1024 * 1024);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_DOWNLOAD)
      return json(res, 400, { error: `size must be 0..${MAX_DOWNLOAD}` }, 'no-store');
    return download(res, size);
  }
  if (path === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms') ?? 1000) || 0, 60_000);
    const timer = setTimeout(() => json(res, 200, { waitedMs: ms }, 'no-store'), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if (path === '/echo') {
    // Streams the request body back, for trying uploads through the proxy.
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    req.pipe(res);
    return;
  }
  const image = /^\/images\/demo\.(jpg|png|webp)$/.exec(path);
  if (image) {
    // Sizes snap to 200 px steps up to 2400 px, so a client cannot make the demo render (and the
    // gateway process, which hosts it, allocate) a new large raw image per request.
    const w = demoSize(url.searchParams.get('w'), 1200);
    const h = demoSize(url.searchParams.get('h'), 800);
    const format = image[1] as ImageFormat;
    const body = await demoImage(w, h, format);
    res.writeHead(200, { 'content-type': IMAGE_FORMATS[format], 'content-length': body.length, 'cache-control': 'public, max-age=3600' });
    res.end(body);
    return;
  }
  json(res, 404, { error: `no demo route ${path}` }, 'no-store');
}

export async function startDemoOrigin(options: { port?: number } = {}): Promise<DemoOrigin> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(err) }, 'no-store');
      else res.destroy();
    });
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return { url: `http://127.0.0.1:${port}`, close, [Symbol.asyncDispose]: close };
}
