// Child process of lazy-sharp.test.ts: reports, as JSON lines on stdout, whether sharp's native
// module is loaded. The loaded shared objects are the evidence (libvips and sharp's .node addon),
// not require.cache, which an ESM importer does not fill.
//   entry <module>  import one module, then report
//   image           import the image and cache entries, create a service, report; transform one
//                   PNG from an origin on 127.0.0.1, report again
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';

const sharpLoaded = (): boolean =>
  (process.report.getReport() as { sharedObjects: string[] }).sharedObjects.some((s) => /libvips|sharp-[a-z0-9-]+\.node$/.test(s));
const report = (at: string): void => console.log(JSON.stringify({ at, sharpLoaded: sharpLoaded() }));

/** A 2 × 2 RGB PNG, encoded here so that no image library is needed to make it. */
function png(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.from([0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const [mode, module] = process.argv.slice(2);
report('start');
if (mode === 'entry') {
  await import(module!);
  report('imported');
} else {
  const { createImageService } = await import('../../src/image/index.js');
  const { createCache } = await import('../../src/cache/index.js');
  const body = png();
  const origin = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(body));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const cache = createCache({ l1: { maxBytes: 1024 ** 2 } });
  const image = createImageService({ cache, allowedOrigins: [base], allowPrivateOrigins: [base] });
  report('created');
  const res = await image.handle({ query: { url: `${base}/a.png`, w: '1', format: 'webp' } });
  console.log(JSON.stringify({ at: 'response', status: res.status, type: res.headers['content-type'] }));
  report('transformed');
  await image.close();
  await cache.close();
  origin.close();
}
