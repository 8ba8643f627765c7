// A client that leaves gives back what its image request held: the origin fetch is aborted and
// the shared admission slot released at once (not after IMAGE_TIMEOUT), also while it waited for
// admission or for a transform slot; a fetch another client still waits for goes on. Through a
// real gateway, a real origin that stalls on purpose, and client sockets that are destroyed.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { createImageService } from '../../src/image/index.js';
import { images, testCache } from './fixtures.js';

/** One origin request held open by the test: headers (and `headBytes` of the body) sent, the rest on finish(). */
interface Held {
  path: string;
  finish(): void;
  /** Resolves when the gateway's connection to the origin closes. */
  closed: Promise<void>;
  isClosed(): boolean;
}

interface StallingOrigin {
  url: string;
  hits: number;
  /** The next origin request to arrive (in arrival order). */
  next(): Promise<Held>;
  close(): Promise<void>;
}

async function startStallingOrigin(body: Buffer, headBytes: number): Promise<StallingOrigin> {
  const arrived: Held[] = [];
  const waiting: ((h: Held) => void)[] = [];
  const open = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const o: StallingOrigin = {
    url: '',
    hits: 0,
    next: () => new Promise<Held>((resolve) => (arrived.length ? resolve(arrived.shift()!) : waiting.push(resolve))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    o.hits++;
    open.add(res);
    let closed = false;
    const held: Held = {
      path: req.url ?? '',
      finish: () => res.end(body.subarray(headBytes)),
      closed: new Promise<void>((resolve) => req.socket.once('close', () => ((closed = true), resolve()))),
      isClosed: () => closed,
    };
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': body.length, 'cache-control': 'public, max-age=600' });
    if (headBytes > 0) res.write(body.subarray(0, headBytes));
    else res.flushHeaders();
    const w = waiting.shift();
    if (w) w(held);
    else arrived.push(held);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  o.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return o;
}

/** A client that sends GET and can walk away (destroy its socket) before the answer. */
function client(base: string, path: string): { leave(): void; response: Promise<Buffer> } {
  const { port } = new URL(base);
  const socket = connect(Number(port), '127.0.0.1');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const response = new Promise<Buffer>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
  response.catch(() => {});
  return { leave: () => socket.destroy(), response };
}

const admin = async (t: TestGateway, path: string) =>
  (await request(`${t.url}/admin/${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
const admission = async (t: TestGateway): Promise<{ inFlight: number; queued: number }> => (await admin(t, 'proxy-stats')).admission;
const imageStats = (t: TestGateway) => admin(t, 'image-stats');
const imagePath = (origin: StallingOrigin, src: string, params = '') => `/image?url=${encodeURIComponent(origin.url + src)}${params}`;

/** A gateway whose image fetches would hold their slot for a minute if nothing cancelled them. */
async function scenario(
  body: Buffer,
  headBytes: number,
  env: Record<string, string>,
  use: (t: TestGateway, origin: StallingOrigin) => Promise<void>,
): Promise<void> {
  await assertNoLeakedHandles(async () => {
    const origin = await startStallingOrigin(body, headBytes);
    const t = await startGateway({
      UPSTREAM_URL: origin.url,
      HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
      ADMIN_RATE_LIMIT: '100000',
      IMAGE_ALLOWED_ORIGINS: origin.url,
      IMAGE_ALLOW_PRIVATE_ORIGINS: origin.url,
      IMAGE_TIMEOUT: '60000',
      ...env,
    });
    try {
      await use(t, origin);
    } finally {
      await t.close();
      await origin.close();
    }
  });
}

let png: Buffer;
let noisy: Buffer;
before(async () => {
  png = (await images()).png;
  // ~120 KB that does not compress: over the IMAGE_MAX_CACHE_SIZE used below, so it streams.
  noisy = await sharp(randomBytes(200 * 200 * 3), { raw: { width: 200, height: 200, channels: 3 } })
    .png()
    .toBuffer();
});

for (const [kind, params] of [
  ['original', ''],
  ['variant', '&w=10'],
] as const) {
  test(`${kind}: a client that leaves mid-fetch frees the admission slot and the origin connection at once`, async () => {
    await scenario(png, 0, {}, async (t, origin) => {
      const c = client(t.url, imagePath(origin, '/stall', params));
      const held = await origin.next();
      assert.equal((await admission(t)).inFlight, 1, 'the fetch holds a shared slot');
      c.leave();
      await waitFor(async () => (await admission(t)).inFlight === 0, 'the admission slot is free');
      await held.closed;
    });
  });
}

test('meta: a client that leaves /image/meta mid-fetch frees the admission slot and the origin connection at once', async () => {
  await scenario(png, 0, {}, async (t, origin) => {
    const c = client(t.url, `/image/meta?url=${encodeURIComponent(`${origin.url}/stall-meta`)}`);
    const held = await origin.next();
    assert.equal((await admission(t)).inFlight, 1, 'the fetch holds a shared slot');
    c.leave();
    await waitFor(async () => (await admission(t)).inFlight === 0, 'the admission slot is free');
    await held.closed;
  });
});

test('a client that leaves while queued for admission leaves the queue; the holder still gets its slot back when it leaves', async () => {
  await scenario(png, 0, { MAX_CONCURRENT_CONNECTIONS: '1', PROXY_QUEUE_TIMEOUT: '60000' }, async (t, origin) => {
    const a = client(t.url, imagePath(origin, '/a', '&w=10'));
    const heldA = await origin.next();
    const b = client(t.url, imagePath(origin, '/b', '&w=10'));
    await waitFor(async () => (await admission(t)).queued === 1, 'the second fetch queues for admission');
    b.leave();
    await waitFor(async () => (await admission(t)).queued === 0, 'the queue is empty');
    assert.equal((await admission(t)).inFlight, 1);
    a.leave();
    await waitFor(async () => (await admission(t)).inFlight === 0, 'the admission slot is free');
    await heldA.closed;
    assert.equal(origin.hits, 1, 'the queued fetch never reached the origin');
  });
});

test('a client that leaves while its large source waits for a transform slot (or holds one) frees both', async () => {
  const env = { IMAGE_CONCURRENCY: '1', IMAGE_ENCODE_CONCURRENCY: '0', IMAGE_MAX_CACHE_SIZE: '16384' };
  await scenario(noisy, 32 * 1024, env, async (t, origin) => {
    const a = client(t.url, imagePath(origin, '/a', '&w=10'));
    const heldA = await origin.next();
    await waitFor(async () => (await imageStats(t)).queue.active === 1, 'the first transform holds the slot');
    const b = client(t.url, imagePath(origin, '/b', '&w=10'));
    const heldB = await origin.next();
    await waitFor(async () => (await imageStats(t)).queue.queued === 1, 'the second waits for the slot');
    assert.equal((await admission(t)).inFlight, 2, 'both streamed sources hold a fetch slot');
    b.leave();
    await waitFor(
      async () => (await imageStats(t)).queue.queued === 0 && (await admission(t)).inFlight === 1,
      'the waiter left the queue and its fetch slot',
    );
    await heldB.closed;
    a.leave();
    await waitFor(
      async () => (await imageStats(t)).queue.active === 0 && (await admission(t)).inFlight === 0,
      'the transform slot and the fetch slot are free',
    );
    await heldA.closed;
  });
});

for (const [kind, params, body, width, env] of [
  ['variant', '&w=10', () => png, 10, {}],
  ['small original', '', () => png, 300, {}],
  ['large original', '', () => noisy, 200, { IMAGE_MAX_CACHE_SIZE: '16384' }],
] as const) {
  test(`${kind}: when one of two clients sharing a fetch leaves, the other still gets the image`, async () => {
    await scenario(body(), 0, env, async (t, origin) => {
      const a = client(t.url, imagePath(origin, '/shared', params));
      const held = await origin.next();
      const b = client(t.url, imagePath(origin, '/shared', params));
      await waitFor(async () => (await imageStats(t)).singleFlightShared === 1, 'the second client joins the fetch');
      a.leave();
      await waitFor(async () => (await imageStats(t)).rejections.client_closed === 1, "the first client's request has ended");
      assert.equal(held.isClosed(), false, 'the shared fetch goes on');
      assert.equal((await admission(t)).inFlight, 1);
      held.finish();
      const raw = await b.response;
      const split = raw.indexOf('\r\n\r\n');
      assert.match(raw.subarray(0, split).toString(), /^HTTP\/1\.1 200 /);
      const meta = await sharp(raw.subarray(split + 4)).metadata();
      assert.equal(meta.width, width);
      assert.equal(origin.hits, 1, 'one origin fetch served the one who stayed');
      await waitFor(async () => (await admission(t)).inFlight === 0, 'the admission slot is free');
    });
  });
}

test('a client that leaves ends as HEADROOM_CLIENT_CLOSED (499), counted apart from bad requests in stats and metrics', async () => {
  await scenario(png, 0, {}, async (t, origin) => {
    const c = client(t.url, imagePath(origin, '/gone', '&w=10'));
    const held = await origin.next();
    c.leave();
    await waitFor(async () => (await imageStats(t)).rejections.client_closed === 1, 'the request has ended');
    await held.closed;
    assert.deepEqual((await imageStats(t)).rejections, { client_closed: 1 }, 'not a bad request');
    const metrics = (await request(`${t.url}/metrics`)).text;
    assert.match(metrics, /^headroom_image_rejections_total\{reason="client_closed"\} 1$/m);
    assert.doesNotMatch(metrics, /headroom_image_rejections_total\{reason="bad_request"\}/);
  });
});

test('the library answers a caller that already left with 499 HEADROOM_CLIENT_CLOSED and starts no work', async () => {
  await assertNoLeakedHandles(async () => {
    const cache = testCache();
    const image = createImageService({ cache, allowedOrigins: ['http://127.0.0.1:9'], allowPrivateNetworks: true });
    try {
      for (const query of [{ url: 'http://127.0.0.1:9/a.png' }, { url: 'http://127.0.0.1:9/a.png', w: '10' }]) {
        await assert.rejects(image.handle({ query, signal: AbortSignal.abort() }), { code: 'HEADROOM_CLIENT_CLOSED', statusCode: 499 });
      }
      assert.deepEqual(image.stats().rejections, { client_closed: 2 });
      assert.equal(image.stats().fetches, 0);
    } finally {
      await image.close();
      await cache.close();
    }
  });
});

test("a client that takes none of a passed-through original is cut after the gateway's CLIENT_READ_TIMEOUT; its slot freed", async () => {
  // More than every buffer between the gateway and a client that does not read.
  const big = Buffer.concat([png, Buffer.alloc(16 * 1024 * 1024)]);
  await scenario(big, 0, { CLIENT_READ_TIMEOUT: '500ms', IMAGE_MAX_CACHE_SIZE: '16384' }, async (t, origin) => {
    const { port } = new URL(t.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.pause(); // never reads
    socket.write(`GET ${imagePath(origin, '/big')} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const held = await origin.next();
    held.finish();
    await waitFor(async () => (await imageStats(t)).rejections.request_timeout === 1, 'the stalled reader cut', 10_000);
    await waitFor(async () => (await admission(t)).inFlight === 0, 'the admission slot is free');
    socket.destroy();
  });
});
