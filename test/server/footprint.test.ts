// The lean gateway (bench/footprint measures it): what it loads only on first use still works when
// first used — the image pipeline (its own modules, undici, sharp) on the first image request,
// ioredis and the bus when REDIS_URL is set — the configuration is read without a schema library,
// and the gateway's own compression (compress.ts) replaced @fastify/compress. Functional checks
// only; the numbers live in the benchmark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { createCache } from '../../src/cache/index.js';
import { negotiateEncoding } from '../../src/server/compress.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { redisOrSkip, startRedis } from '../helpers/redis.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

// Packages an idle gateway must not have loaded (each is loaded by the feature that needs it;
// @opentelemetry/api by none: prom-client's index loads it, and headroom loads prom-client by path).
const LAZY = ['ioredis', 'mime-db', '@fastify/compress', '@opentelemetry/api'];
// undici's index (fetch, WebSocket, …): the proxy loads only undici's Pool.
const UNDICI_INDEX = /node_modules\/undici\/index\.js$/;
// ES modules, from the child's module log (test/helpers/module-log.ts): the image pipeline
// (src/image/lazy.ts loads it) and zod, which the configuration no longer uses.
const IMAGE_PIPELINE = /\/src\/image\/(service|source|stages|variants|transform)\.ts$/;
const ZOD = /\/node_modules\/zod\//;
// Parts that only a setting turns on: alerts (ALERT_WEBHOOK_URL) and log shipping (LOG_SHIP_URL).
const UNCONFIGURED = /\/src\/(observe\/alerts\/(alerter|webhook|index)|log\/shipper)\.ts$/;

// sharp is an ES module (not in require.cache): its native libvips shows in the process's maps.
const libvipsMapped = (): boolean | null =>
  existsSync('/proc/self/maps') ? /libvips/.test(readFileSync('/proc/self/maps', 'utf8')) : null;

function loadedPackages() {
  const files = Object.keys(createRequire(import.meta.url).cache);
  const esm = readFileSync(process.env.MODULE_LOG!, 'utf8').split('\n');
  return {
    lazy: LAZY.filter((p) => files.some((f) => f.includes(`/node_modules/${p}/`))),
    undiciIndex: files.some((f) => UNDICI_INDEX.test(f)),
    libvips: libvipsMapped(),
    imagePipeline: esm.filter((u) => IMAGE_PIPELINE.test(u)).length,
    zod: esm.some((u) => ZOD.test(u)),
    unconfigured: esm.filter((u) => UNCONFIGURED.test(u)).map((u) => u.replace(/^.*\/src\//, 'src/')),
  };
}

// ---------- child: a fresh process (own module graph) running a gateway ----------

if (process.argv[2] === '--footprint-child') {
  const png = sharpFree();
  const origin = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const t = await startGateway({ UPSTREAM_URL: originUrl, IMAGE_ALLOWED_ORIGINS: originUrl, IMAGE_ALLOW_PRIVATE_ORIGINS: originUrl });
  const idle = loadedPackages();
  const res = await request(`${t.url}/image?url=${encodeURIComponent(`${originUrl}/a.png`)}&w=32&format=webp`);
  const after = loadedPackages();
  process.stdout.write(
    `${JSON.stringify({ idle, after, status: res.status, type: res.headers['content-type'], body: res.body.toString('base64') })}\n`,
  );
  await t.close();
  origin.close();
  // Pipes are written synchronously on Linux; exiting here also keeps the tests below from running.
  process.exit(0);
}

/** A 64×48 PNG written by hand (zlib only), so the child loads sharp only through the gateway. */
function sharpFree(): Buffer {
  const w = 64;
  const h = 48;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set([x * 4, y * 5, 120], y * (w * 3 + 1) + 1 + x * 3);
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------- tests (not in the child) ----------

// sharp only here: the child must not load it other than through the gateway.
const { default: sharp } = await import('sharp');

test('an idle gateway has not loaded ioredis, sharp, undici’s index, the image pipeline or zod; the first image request loads them and is answered correctly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-footprint-'));
  const moduleLog = fileURLToPath(new URL('../helpers/module-log.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', moduleLog, fileURLToPath(import.meta.url), '--footprint-child'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, MODULE_LOG: join(dir, 'modules.txt') },
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const [code] = (await once(child, 'exit')) as [number];
  rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 0);
  const r = JSON.parse(out.trim().split('\n').pop()!) as {
    idle: ReturnType<typeof loadedPackages>;
    after: ReturnType<typeof loadedPackages>;
    status: number;
    type: string;
    body: string;
  };
  assert.deepEqual(r.idle.lazy, [], 'nothing lazy is loaded at idle');
  assert.equal(r.idle.undiciIndex, false, 'the proxy loads undici’s Pool, not its index');
  if (r.idle.libvips !== null) assert.equal(r.idle.libvips, false, 'sharp (libvips) is not loaded at idle');
  assert.equal(r.idle.imagePipeline, 0, 'the image pipeline’s modules are not loaded at idle');
  assert.equal(r.idle.zod, false, 'the configuration was read without zod');
  assert.deepEqual(r.idle.unconfigured, [], 'alerts and log shipping are not loaded when not configured');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'image/webp');
  const meta = await sharp(Buffer.from(r.body, 'base64')).metadata();
  assert.equal(meta.format, 'webp');
  assert.equal(meta.width, 32);
  assert.equal(meta.height, 24);
  assert.ok(r.after.undiciIndex, 'the image fetch loaded undici');
  if (r.after.libvips !== null) assert.equal(r.after.libvips, true, 'the transform loaded sharp');
  assert.equal(r.after.imagePipeline, 5, 'the first image request loaded the pipeline');
  assert.ok(!r.after.lazy.includes('ioredis'), 'no Redis without REDIS_URL');
});

test('a cache with Redis works from its first call, before ioredis has loaded', async (ctx) => {
  if (!redisOrSkip('lazy Redis store')) return ctx.skip('redis-server not installed');
  const redis = await startRedis();
  try {
    await assertNoLeakedHandles(async () => {
      const keyPrefix = `lazy${Date.now()}:`;
      const a = createCache({ redis: { url: redis.url, keyPrefix } });
      // Called synchronously after construction: waits for the store, then for the connection.
      await a.set('k', Buffer.from('from a'), { tags: ['t'] });
      const b = createCache({ redis: { url: redis.url, keyPrefix } });
      assert.deepEqual(await b.get('k'), Buffer.from('from a'), 'b reads what a wrote, from Redis');
      assert.equal(b.stats().l2?.hits, 1);
      await waitFor(() => a.stats().bus?.connected && b.stats().bus?.connected, 'both buses connected');
      await b.get('k'); // now in b's L1
      await a.invalidateByTag('t');
      await waitFor(async () => (await b.get('k')) === undefined, 'the bus dropped b’s L1 copy');
      await Promise.all([a.close(), b.close()]);
    });
    // Closed before its store loaded: no connection is opened, nothing is left behind.
    await assertNoLeakedHandles(async () => {
      const c = createCache({ redis: { url: redis.url } });
      await c.close();
      assert.equal(c.stats().l2?.connected, false);
    });
  } finally {
    await redis.stop();
  }
});

test('negotiateEncoding: q-values, aliases, wildcard and refusals', () => {
  assert.equal(negotiateEncoding(undefined), undefined);
  assert.equal(negotiateEncoding(''), undefined);
  assert.equal(negotiateEncoding('gzip'), 'gzip');
  assert.equal(negotiateEncoding('deflate'), 'deflate');
  assert.equal(negotiateEncoding('gzip, deflate, br'), 'gzip');
  assert.equal(negotiateEncoding('deflate, gzip'), 'gzip');
  assert.equal(negotiateEncoding('gzip;q=0.5, deflate'), 'deflate');
  assert.equal(negotiateEncoding('GZIP;Q=1'), 'gzip');
  assert.equal(negotiateEncoding('x-gzip'), 'gzip');
  assert.equal(negotiateEncoding('*'), 'gzip');
  assert.equal(negotiateEncoding('*;q=0.3, gzip;q=0'), 'deflate');
  assert.equal(negotiateEncoding('gzip;q=0, deflate;q=0'), undefined);
  assert.equal(negotiateEncoding('identity'), undefined);
  assert.equal(negotiateEncoding('br, zstd'), undefined);
});

function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

test('the gateway compresses its own responses as @fastify/compress did', async () => {
  const t = await startGateway();
  try {
    const gz = await request(`${t.url}/metrics`, { headers: { 'accept-encoding': 'gzip, deflate' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers.vary, 'accept-encoding');
    assert.match(gz.text, /# TYPE headroom_/);

    const df = await rawGet(`${t.url}/metrics`, { 'accept-encoding': 'gzip;q=0.1, deflate' });
    assert.equal(df.headers['content-encoding'], 'deflate');
    assert.equal(Number(df.headers['content-length']), df.body.length);
    assert.match(inflateSync(df.body).toString(), /# TYPE headroom_/);

    for (const headers of [{}, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'gzip', 'x-no-compression': '1' }] as Record<
      string,
      string
    >[]) {
      const plain = await rawGet(`${t.url}/metrics`, headers);
      assert.equal(plain.headers['content-encoding'], undefined, JSON.stringify(headers));
      assert.match(plain.body.toString(), /# TYPE headroom_/);
    }
    // Below COMPRESSION_THRESHOLD (1 KiB): as it is.
    const small = await rawGet(`${t.url}/health/live`, { 'accept-encoding': 'gzip' });
    assert.equal(small.headers['content-encoding'], undefined);
    // Proxied and image bodies are never recompressed (routes outside the compressed scope).
    const health = await request(`${t.url}/health`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(health.json().status, 'healthy');
  } finally {
    await t.close();
  }
});

test('COMPRESSION_ENABLED=false sends the own responses uncompressed', async () => {
  const t = await startGateway({ COMPRESSION_ENABLED: 'false' });
  try {
    const res = await rawGet(`${t.url}/metrics`, { 'accept-encoding': 'gzip' });
    assert.equal(res.headers['content-encoding'], undefined);
  } finally {
    await t.close();
  }
});
