// The upstream the fixture apps proxy to, on 127.0.0.1: it records what reached it and misbehaves
// on purpose where a scenario needs it.
//   ANY /echo…          records method, raw URL, headers and body length; answers them as JSON
//   GET /download?mb=N  N MiB generated on the fly (with backpressure), never held in memory
//   POST /upload        counts the body's bytes, answers {"bytes":n}
//   GET /slow?ms=N      headers only after N ms (a request a client can abandon mid-way)
//   GET /image.png      a small PNG (the image route's origin)
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export interface Seen {
  method: string;
  /** Exactly the request target the upstream received (path and query). */
  url: string;
  headers: IncomingMessage['headers'];
  bodyLength: number;
}

export interface Upstream {
  url: string;
  /** Every request that reached the upstream, in order. */
  seen: Seen[];
  /** Requests that reached the upstream at all (any path). */
  calls(): number;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 'headroom ');

export async function startUpstream(): Promise<Upstream> {
  const seen: Seen[] = [];
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a7' } })
    .png()
    .toBuffer();
  let arrived = 0;
  const server: Server = createServer((req, res) => {
    arrived++;
    let bodyLength = 0;
    req.on('data', (c: Buffer) => (bodyLength += c.length));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyLength });
      const url = new URL(req.url!, 'http://upstream');
      if (url.pathname.startsWith('/echo')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, url: req.url, bodyLength }));
      } else if (url.pathname === '/upload') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes: bodyLength }));
      } else if (url.pathname === '/download') {
        let left = Number(url.searchParams.get('mb') ?? 1) * 1024 * 1024;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
        const pump = (): void => {
          while (left > 0) {
            const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
            left -= chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.once('close', () => (left = 0));
        pump();
      } else if (url.pathname === '/slow') {
        const timer = setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 1000));
        res.once('close', () => clearTimeout(timer));
      } else if (url.pathname === '/image.png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(png.length), 'cache-control': 'max-age=60' });
        res.end(png);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    calls: () => arrived,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
