import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ImageService } from '../../src/image/types.js';
import { queryObject, serveNodeImage } from '../../src/toolkit/node-image.js';
import { stallReading } from '../helpers/raw-http.js';

test('queryObject: repeated keys become arrays, as Fastify parses them', () => {
  assert.deepEqual(queryObject('/image?url=a&w=1&w=2'), { url: 'a', w: ['1', '2'] });
  assert.deepEqual(queryObject('/image'), {});
});

// Express, Connect and NestJS apps own their server (Node's has no socket timeout by default):
// the image route bounds its own answer.
test("a client that stops reading a buffered image is cut after the service's clientReadTimeout", async () => {
  const big = Buffer.alloc(32 * 1024 * 1024, 0x62); // more than the kernel buffers of both ends take
  const image = { clientReadTimeout: 300, handle: async () => ({ status: 200, headers: { 'content-type': 'image/png' }, body: big }) };
  const server = createServer((req, res) => void serveNodeImage(image as unknown as ImageService, req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await stallReading(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/image?url=x');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
