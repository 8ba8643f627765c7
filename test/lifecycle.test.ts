// One lifecycle contract for every public factory: create it, use it a little, call close() twice
// at once — both calls must return the same promise (the close in flight, as undici's dispatchers
// do) — and leave no handle behind. Every part is checked and all failures are reported together.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import sharp from 'sharp';
import { createCache } from '../src/cache/index.js';
import { createImageService } from '../src/image/index.js';
import { createMemoryMonitor } from '../src/monitor/index.js';
import { createAdmission, createProxy, createUpstreamClient } from '../src/proxy/index.js';
import { startGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { redisOrSkip, startRedis, type RedisServer } from './helpers/redis.js';
import { assertNoLeakedHandles } from './helpers/resources.js';

interface Closable {
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates a part and uses it a little; `after` runs once the part is closed (its test servers). */
type Factory = () => Promise<{ part: Closable; after?: () => Promise<void> }>;

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

async function drain(body: Buffer | Readable | undefined): Promise<number> {
  if (body === undefined || Buffer.isBuffer(body)) return body?.length ?? 0;
  let n = 0;
  for await (const c of body) n += (c as Buffer).length;
  return n;
}

test('every public factory: a second close() returns the close in flight, and nothing is left behind', async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3a7' } })
    .png()
    .toBuffer();
  // An origin for the proxy, the upstream client, the image service and the gateway.
  const origin = createServer((req, res) => {
    if (req.url?.startsWith('/img')) res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  const originUrl = await listen(origin);
  const dir = mkdtempSync(join(tmpdir(), 'headroom-lifecycle-'));
  const withRedis = redisOrSkip('lifecycle: createCache with redis');
  const redis: RedisServer | undefined = withRedis ? await startRedis() : undefined;

  const factories: [string, Factory][] = [
    [
      'createMemoryMonitor',
      async () => {
        const monitor = createMemoryMonitor({ sampleInterval: 50 });
        monitor.start();
        assert.ok(monitor.report().v8.heapSizeLimit > 0);
        return { part: monitor };
      },
    ],
    [
      'createCache (L1 only)',
      async () => {
        const cache = createCache({ disk: false });
        await cache.set('k', 'v');
        assert.equal(await cache.getOrSet('k', () => 'other'), 'v');
        return { part: cache };
      },
    ],
    [
      'createCache (disk)',
      async () => {
        const cache = createCache({ disk: { dir: join(dir, 'disk') }, l1: { maxEntryBytes: 10 } });
        await cache.set('k', Buffer.alloc(1000, 1));
        assert.equal((await cache.getStream('k'))?.size, 1000);
        return { part: cache };
      },
    ],
    [
      'createCache (redis)',
      async () => {
        const cache = createCache({ redis: { url: redis!.url, keyPrefix: 'lifecycle:' } });
        await cache.set('k', 'v');
        assert.equal(cache.stats().l2?.errors, 0);
        return { part: cache };
      },
    ],
    [
      'createAdmission',
      async () => {
        const admission = createAdmission({ maxConcurrent: 2, queueSize: 10, queueTimeout: 1000, memoryThresholdPercent: 90 });
        const release = await admission.acquire();
        release();
        return { part: admission };
      },
    ],
    [
      'createProxy',
      async () => {
        const proxy = createProxy({ upstreamUrl: originUrl });
        const server = createServer((req, res) => proxy.handle(req, res));
        const url = await listen(server);
        assert.equal((await request(`${url}/api/x`)).status, 200);
        return { part: proxy, after: () => stop(server) };
      },
    ],
    [
      'createUpstreamClient',
      async () => {
        const client = createUpstreamClient({ baseUrl: originUrl });
        assert.deepEqual(await client.json('/x'), { ok: true });
        return { part: client };
      },
    ],
    [
      'createImageService',
      async () => {
        const cache = createCache({ disk: false });
        const image = createImageService({ cache, allowedOrigins: [originUrl], allowPrivateNetworks: true });
        const res = await image.handle({ query: { url: `${originUrl}/img.png`, w: '4' } });
        assert.equal(res.status, 200);
        assert.ok((await drain(res.body)) > 0);
        return { part: image, after: () => cache.close() };
      },
    ],
    [
      'createGateway',
      async () => {
        const gw = await startGateway({ UPSTREAM_URL: originUrl });
        assert.equal((await request(`${gw.url}/api/x`)).status, 200);
        return { part: gw.gw, after: () => gw.close() };
      },
    ],
  ];

  const problems: string[] = [];
  try {
    for (const [name, make] of factories) {
      if (name.includes('redis') && redis === undefined) continue;
      try {
        await assertNoLeakedHandles(async () => {
          const { part, after } = await make();
          const first = part.close();
          const second = part.close();
          let firstDone = false;
          void first.then(
            () => (firstDone = true),
            () => undefined,
          );
          const settledSecond = second.then(() => firstDone);
          if (second !== first) problems.push(`${name}: a second close() returned a new promise, not the close in flight`);
          if (!(await settledSecond)) problems.push(`${name}: a second close() settled before the first one had finished`);
          await first;
          await part[Symbol.asyncDispose]();
          await after?.();
        });
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    }
  } finally {
    await stop(origin);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});
