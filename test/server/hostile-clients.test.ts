// Hostile clients against the real gateway (defaults unless a test says otherwise): stalled
// uploads, clients that stop reading, forged or duplicated Host, encoded prefixes, broken upstream
// framing and malformed requests. Every case goes through real sockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/index.js';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import type { FastifyInstance } from 'fastify';
import { buildApp, type RouteRegistrar } from '../../src/server/app.js';
import { imageRoutes } from '../../src/server/routes/image.js';
import type { ImageService } from '../../src/image/types.js';
import { createLogger } from '../../src/server/logger.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import {
  collect,
  completeResponse,
  CONTINUE,
  jsonBody,
  openSocket,
  rawRequest,
  stallReading,
  uploadOnContinue,
  type RawReply,
} from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';
import { startUpstream, within, type Upstream } from '../proxy/helpers.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** Upstream: echoes its path, reflects X-Forwarded-Host in a cacheable page, streams forever on /base/big. */
async function hostileUpstream(): Promise<Upstream> {
  return startUpstream((req, res) => {
    if (req.url === '/base/page') {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, max-age=60' });
      res.end(`<a href="https://${String(req.headers['x-forwarded-host'])}/next">next</a>`);
    } else if (req.url === '/base/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (!res.destroyed && res.write(CHUNK));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    } else if (req.method === 'POST') {
      req.resume();
      req.on('end', () => res.end('uploaded'));
    } else {
      res.end(req.url);
    }
  });
}

function stats(t: TestGateway): Promise<{ inFlight: number; errors: Record<string, number> }> {
  return request(`${t.url}/admin/proxy-stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.json());
}

describe('slow clients cannot hold upstream slots', () => {
  let up: Upstream;
  let t: TestGateway;
  before(async () => {
    up = await hostileUpstream();
    t = await startGateway({
      UPSTREAM_URL: `${up.url}/base`,
      HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
      MAX_CONCURRENT_CONNECTIONS: '2',
      PROXY_QUEUE_TIMEOUT: '10s',
      CLIENT_TIMEOUT: '300ms',
      CLIENT_READ_TIMEOUT: '300ms',
      CLIENT_MIN_RATE: '800',
    });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  test('stalled uploads get 408 HEADROOM_REQUEST_TIMEOUT and free their slots', async () => {
    const stalled = await Promise.all([0, 1].map(() => openSocket(t.url)));
    const replies = stalled.map((s) =>
      collect(s, `POST /api/x HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1000\r\n\r\nx`, completeResponse),
    );
    // Both slots are taken by the stalled uploads; a normal request waits, then gets through.
    await waitFor(async () => (await stats(t)).inFlight === 2, 'both slots held');
    const normal = await request(`${t.url}/api/ok`);
    assert.equal(normal.status, 200);
    assert.equal(normal.text, '/base/ok');
    for (const reply of await Promise.all(replies)) {
      assert.equal(reply.status, 408, reply.text);
      assert.equal(jsonBody(reply).error?.code, 'HEADROOM_REQUEST_TIMEOUT');
      assert.match(reply.text, /\r\nconnection: close\r\n/i);
    }
    await waitFor(async () => (await stats(t)).inFlight === 0, 'slots released');
    assert.ok((await stats(t)).errors.clientTimeout! >= 2);
  });

  test('an upload trickled below CLIENT_MIN_RATE (as set) gets 408 naming it; one above it goes through', async () => {
    // CLIENT_TIMEOUT 300 ms, CLIENT_MIN_RATE 800 B/s: at least 240 bytes per 300 ms.
    const trickle = (s: Socket, bytesPerTick: number, total: number): NodeJS.Timeout => {
      s.write(`POST /api/x HTTP/1.1\r\nHost: shop.example\r\nContent-Length: ${total}\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        const n = Math.min(bytesPerTick, total - sent);
        if (n > 0 && !s.destroyed) s.write(Buffer.alloc(n, 0x62));
        sent += n;
        if (sent >= total) clearInterval(timer);
      }, 50);
      return timer;
    };
    const slowSocket = await openSocket(t.url);
    const fastSocket = await openSocket(t.url);
    const timers = [trickle(slowSocket, 1, 1000), trickle(fastSocket, 100, 3000)];
    try {
      const [slow, fast] = await Promise.all([
        collect(slowSocket, undefined, completeResponse),
        collect(fastSocket, undefined, completeResponse),
      ]);
      assert.equal(slow.status, 408, slow.text);
      assert.match(
        jsonBody(slow).error?.message ?? '',
        /came slower than 800 bytes a second over 300 ms \(CLIENT_MIN_RATE, CLIENT_TIMEOUT\)/,
      );
      assert.equal(fast.status, 200, fast.text);
      assert.match(fast.text, /uploaded$/);
    } finally {
      for (const timer of timers) clearInterval(timer);
    }
    await waitFor(async () => (await stats(t)).inFlight === 0, 'slots released');
  });

  test("a body sent to the gateway's own routes is never read: answered at once, the connection closed", async () => {
    for (const [path, type, status] of [
      ['/nope', 'application/json', 404],
      ['/health', 'text/plain', 405],
      ['/metrics', 'application/octet-stream', 405],
    ] as const) {
      // 1 MB declared, a few bytes sent, then the client stalls: nothing may wait for the rest.
      const head = `POST ${path} HTTP/1.1\r\nHost: shop.example\r\nContent-Type: ${type}\r\nContent-Length: 1000000\r\n\r\n{"a":`;
      const reply = await within(rawRequest(t.url, head), 5_000, `the answer to a stalled body on ${path}`);
      assert.equal(reply.closed, true, path);
      assert.equal(reply.status, status, reply.text);
      assert.match(reply.text, /\r\nconnection: close\r\n/i);
    }
  });

  test('clients that stop reading are cut off after the stall and free their slots', async () => {
    const sockets: Socket[] = await Promise.all([0, 1].map(() => openSocket(t.url)));
    for (const s of sockets) {
      s.pause(); // never reads: the gateway's writes back up into the kernel buffers
      s.on('error', () => {});
      s.write('GET /api/big HTTP/1.1\r\nHost: shop.example\r\n\r\n');
    }
    await waitFor(async () => (await stats(t)).inFlight === 2, 'both slots held');
    const normal = await request(`${t.url}/api/ok`);
    assert.equal(normal.status, 200);
    await waitFor(async () => (await stats(t)).inFlight === 0, 'slots released');
    await waitFor(() => up.received.filter((r) => r.url === '/base/big' && r.aborted).length === 2, 'upstream downloads aborted');
    // The gateway closed the connections: a client that reads again finds the end of what was buffered.
    await Promise.all(
      sockets.map((s) => {
        const closed = once(s, 'close');
        s.resume();
        return closed;
      }),
    );
  });

  test('a slow upstream is not the client’s fault: the client timeout does not cut it', async () => {
    // Reads nothing for 2.5 s (the upload backs up to the client), then answers. The client
    // timeout fires twice meanwhile; 1 s leaves room for a loaded test machine, where a stalled
    // event loop runs an overdue socket timer before it reads the bytes that arrived.
    const slow = createHttpServer((req, res) =>
      setTimeout(() => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(`late ${n}`));
      }, 2500),
    );
    slow.listen(0, '127.0.0.1');
    await once(slow, 'listening');
    const g = await startGateway({ UPSTREAM_URL: `http://127.0.0.1:${(slow.address() as { port: number }).port}`, CLIENT_TIMEOUT: '1s' });
    try {
      const body = Buffer.alloc(16 * 1024 * 1024);
      const r = await request(`${g.url}/api/x`, { method: 'POST', body });
      assert.equal(r.status, 200);
      assert.equal(r.text, `late ${body.length}`);
    } finally {
      await g.close();
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });
});

describe("a client that stops reading a buffered answer of the gateway's own routes", () => {
  // More than the kernel buffers of both ends take, so the answer backs up into Node.
  const big = Buffer.alloc(32 * 1024 * 1024, 0x62);

  async function withApp(
    env: Record<string, string>,
    routes: RouteRegistrar[],
    use: (url: string, app: FastifyInstance) => Promise<void>,
  ): Promise<void> {
    const { config } = loadConfig({ env: { PORT: '0', LOG_LEVEL: 'silent', ...env } });
    const monitor = createMemoryMonitor({ ...config.monitor });
    const app = await buildApp({
      config,
      logger: createLogger('silent'),
      monitor,
      registry: new Registry(),
      isDraining: () => false,
      routes,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      await use(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app);
    } finally {
      await app.close();
      await monitor.close();
    }
  }

  test('is cut after CLIENT_READ_TIMEOUT without progress (not held for ever); a client that reads gets it whole', async () => {
    const routes = [
      (scope: FastifyInstance) => void scope.get('/big', (_request, reply) => reply.type('application/octet-stream').send(big)),
    ];
    // 1 s, not less: the reader runs in this process, and a loaded machine may pause it that long.
    await withApp({ CLIENT_READ_TIMEOUT: '1s' }, routes, async (url, app) => {
      const reader = await request(`${url}/big`);
      assert.equal(reader.status, 200);
      assert.equal(reader.body.length, big.length);
      await stallReading(app.server, url, '/big');
    });
  });

  test("an image is cut after the image service's clientReadTimeout (its bound for a stream too)", async () => {
    const image = { clientReadTimeout: 300, handle: async () => ({ status: 200, headers: { 'content-type': 'image/png' }, body: big }) };
    const routes = [(scope: FastifyInstance) => imageRoutes(scope, { image: image as unknown as ImageService })];
    await withApp({ CLIENT_READ_TIMEOUT: '10m' }, routes, async (url, app) => stallReading(app.server, url, '/image?url=x'));
  });
});

describe('one client cannot take every slot (MAX_CONCURRENT_PER_CLIENT)', () => {
  let up: Upstream;
  let t: TestGateway;
  const held: (() => void)[] = [];
  before(async () => {
    // /base/hold answers only when the test lets it; anything else at once.
    up = await startUpstream((req, res) => {
      if (req.url === '/base/hold') held.push(() => res.end('held'));
      else res.end(req.url);
    });
    t = await startGateway({
      UPSTREAM_URL: `${up.url}/base`,
      HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
      MAX_CONCURRENT_CONNECTIONS: '4',
      MAX_CONCURRENT_PER_CLIENT: '2',
      // X-Forwarded-For is believed from 127.0.0.1 only: a client at 127.0.0.2 cannot pick its address.
      TRUST_PROXY: '127.0.0.1',
    });
  });
  after(async () => {
    for (const release of held.splice(0)) release();
    await t.close();
    await up.close();
  });

  test('a client at its limit gets 429 with Retry-After; other clients, forged addresses included, get through', async () => {
    const from = (client: string, path: string, localAddress = '127.0.0.1') =>
      request(`${t.url}/api/${path}`, { localAddress, headers: { 'x-forwarded-for': client } });
    const holding = [from('203.0.113.5', 'hold'), from('203.0.113.5', 'hold')];
    await waitFor(() => held.length === 2, 'both held requests upstream');
    const refused = await from('203.0.113.5', 'ok');
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json().error.code, 'HEADROOM_CLIENT_LIMIT');
    assert.match(refused.json().error.message, /MAX_CONCURRENT_PER_CLIENT/);
    assert.equal(refused.headers['retry-after'], '1');
    // Another client behind the trusted proxy, and the same forged header from an untrusted peer.
    assert.equal((await from('203.0.113.6', 'ok')).text, '/base/ok');
    assert.equal((await from('203.0.113.5', 'ok', '127.0.0.2')).text, '/base/ok');
    for (const release of held.splice(0)) release();
    for (const r of await Promise.all(holding)) assert.equal(r.text, 'held');
    // The slots came back: the client may use them again.
    assert.equal((await from('203.0.113.5', 'ok')).text, '/base/ok');
    const s = (await stats(t)) as unknown as { rejected: { client: number }; admission: { clients: number } };
    assert.deepEqual([s.rejected.client, s.admission.clients], [1, 0]);
  });
});

/** A gateway over hostileUpstream() (base path /base, the admin token) for the enclosing describe's tests. */
function hostileGateway(): { up: Upstream; t: TestGateway } {
  const g = {} as { up: Upstream; t: TestGateway };
  before(async () => {
    g.up = await hostileUpstream();
    g.t = await startGateway({ UPSTREAM_URL: `${g.up.url}/base`, HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  after(async () => {
    await g.t.close();
    await g.up.close();
  });
  return g;
}

describe('requests cannot poison the cache or escape the base path', () => {
  const g = hostileGateway();

  test('a page built for one Host is never served for another', async () => {
    const evil = await request(`${g.t.url}/api/page`, { headers: { host: 'evil.example' } });
    assert.match(evil.text, /evil\.example/);
    const shop = await request(`${g.t.url}/api/page`, { headers: { host: 'shop.example' } });
    assert.match(shop.text, /shop\.example/);
    assert.doesNotMatch(shop.text, /evil/);
    // The same Host is still served from the cache.
    const again = await request(`${g.t.url}/api/page`, { headers: { host: 'SHOP.example' } });
    assert.match(again.text, /shop\.example/);
    assert.ok(again.headers.age !== undefined, 'second request for the same Host is a cache hit');
    assert.equal(g.up.received.filter((r) => r.url === '/base/page').length, 2);
  });

  test('a percent-encoded prefix maps exactly like the plain one', async () => {
    for (const path of ['/%61pi/secret', '/ap%69/secret', '/%61%70%69/secret']) {
      const r = await rawRequest(g.t.url, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.ok(r.text.endsWith('/base/secret'), `${path} reached the upstream as ${r.text.split('\r\n\r\n')[1]}`);
    }
    assert.ok(!g.up.received.some((r) => r.url.startsWith('/basepi') || r.url.startsWith('/base69')));
  });

  test('an absolute-form target (http://host/api/x) is taken by its path when it names the Host header; else 400', async () => {
    const get = (target: string): Promise<RawReply> =>
      rawRequest(g.t.url, `GET ${target} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n`);
    const proxied = await get('http://Shop.example/api/absolute?x=1');
    assert.equal(proxied.status, 200, proxied.text);
    assert.ok(proxied.text.endsWith('\r\n\r\n/base/absolute?x=1'), proxied.text);
    assert.equal((await get('HTTP://shop.example/health/live')).status, 200);
    // HTTP/1.0 need not send Host: the target's host stands in (X-Forwarded-Host, the cache key).
    const old = await rawRequest(g.t.url, 'GET http://old.example/api/page HTTP/1.0\r\n\r\n');
    assert.equal(old.status, 200, old.text);
    assert.match(old.text, /https:\/\/old\.example\/next/);
    const before = g.up.received.length;
    for (const [target, code, message] of [
      ['http://evil.example/api/absolute', 'HEADROOM_BAD_REQUEST', /names evil\.example but the Host header shop\.example/],
      ['http://evil.example/health/live', 'HEADROOM_BAD_REQUEST', /names evil\.example/],
      ['http://user@shop.example/api/absolute', 'HEADROOM_BAD_REQUEST', /authority "user@shop\.example" is not a valid host/],
      ['http://shop.example/api/../admin/gc', 'HEADROOM_PATH_REJECTED', /escape/],
    ] as const) {
      const r = await get(target);
      assert.equal(r.status, 400, `${target}: ${r.text}`);
      assert.equal(jsonBody(r).error?.code, code, target);
      assert.match(jsonBody(r).error!.message, message);
    }
    assert.equal(g.up.received.length, before, 'the upstream never saw a refused one');
  });

  test('two Host lines, a malformed Host or none (HTTP/1.1) → 400 in the error format, upstream never called', async () => {
    const before = g.up.received.length;
    for (const [path, hosts] of [
      ['/api/x', 'Host: a.example\r\nHost: b.example'],
      ['/health/live', 'Host: a.example\r\nHost: b.example'],
      ['/api/x', 'Host: a.example/evil'],
      ['/api/x', 'Host: a b'],
      ['/api/x', 'X-No-Host: 1'],
      ['/health/live', 'X-No-Host: 1'],
    ] as const) {
      const r = await rawRequest(g.t.url, `GET ${path} HTTP/1.1\r\n${hosts}\r\nConnection: close\r\n\r\n`);
      assert.match(r.text, /\r\nx-request-id: /i, 'answered by the gateway, not by Node');
      assert.equal(r.status, 400, `${path} ${hosts}: ${r.text}`);
      assert.equal(jsonBody(r).error?.code, 'HEADROOM_BAD_REQUEST');
      assert.match(jsonBody(r).error!.message, /Host/);
    }
    assert.equal(g.up.received.length, before);
  });

  test('more header lines than Node keeps (1000) → 431, upstream never called; 1000 lines go through', async () => {
    // Node drops lines past maxHeadersCount without a word; 1 001 short lines fit in 16 KiB.
    const lines = (n: number): string => Array.from({ length: n }, (_, i) => `x-${i}: 1\r\n`).join('');
    const before = g.up.received.length;
    for (const path of ['/api/x', '/health/live']) {
      // Host, Connection and 999 more: 1 001 lines; the Connection line would be one Node drops.
      const r = await rawRequest(g.t.url, `GET ${path} HTTP/1.1\r\nHost: a\r\n${lines(999)}Connection: close\r\n\r\n`);
      assert.equal(r.status, 431, `${path}: ${r.text.slice(0, 300)}`);
      assert.equal(jsonBody(r).error?.code, 'HEADROOM_HEADERS_TOO_LARGE');
      assert.match(jsonBody(r).error!.message, /more than 1000 header lines/);
    }
    assert.equal(g.up.received.length, before);
    const ok = await rawRequest(g.t.url, `GET /api/x HTTP/1.1\r\nHost: a\r\n${lines(997)}Connection: close\r\n\r\n`);
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });
});

describe('Expect: 100-continue is answered only once the body is read', () => {
  const g = hostileGateway();

  test('a proxied upload gets 100 Continue, then its body goes through', async () => {
    const reply = await within(
      uploadOnContinue(
        g.t.url,
        'POST /api/up HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
        'hello',
      ),
      5_000,
      'the answer to an upload that waited for 100 Continue',
    );
    assert.ok(reply.text.startsWith(CONTINUE), reply.text);
    assert.match(reply.text.slice(CONTINUE.length), /^HTTP\/1\.1 200 [^]*\r\n\r\nuploaded$/);
    const rec = g.up.received.find((r) => r.url === '/base/up');
    await rec?.settled;
    assert.equal(rec?.bodyBytes, 5);
  });

  test('a refused request gets its final status instead, never 100, and the connection closes', async () => {
    const before = g.up.received.length;
    for (const [path, headers, status] of [
      ['/api/x', 'Host: a.example\r\nHost: b.example', 400],
      ['/admin/gc', 'Host: shop.example', 401],
      ['/health', 'Host: shop.example', 405],
    ] as const) {
      // 1 MB announced and not sent: the client waits for the go-ahead, which must not come.
      const head = `POST ${path} HTTP/1.1\r\n${headers}\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`;
      const reply = await within(rawRequest(g.t.url, head), 5_000, `the answer on ${path}`);
      assert.equal(reply.status, status, `${path}: ${reply.text}`);
      assert.doesNotMatch(reply.text, /100 Continue/);
      assert.equal(reply.closed, true, path);
    }
    assert.equal(g.up.received.length, before);
  });

  test('another Expect value gets 417 and CONNECT 405, in the error format, where Node would answer a bare 417 or nothing', async () => {
    const before = g.up.received.length;
    const expect = await within(
      rawRequest(
        g.t.url,
        'POST /api/up HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1000000\r\nExpect: 200-ok\r\n\r\n',
        completeResponse,
      ),
      5_000,
      'the answer to Expect: 200-ok',
    );
    assert.equal(expect.status, 417, expect.text);
    assert.equal(jsonBody(expect).error?.code, 'HEADROOM_EXPECTATION_FAILED');
    assert.match(jsonBody(expect).error!.message, /"200-ok" is not met: only 100-continue is/);
    assert.match(expect.text, /\r\nconnection: close\r\n/i);
    const tunnel = await within(
      rawRequest(g.t.url, 'CONNECT internal.example:22 HTTP/1.1\r\nHost: internal.example:22\r\n\r\n', completeResponse),
      5_000,
      'the answer to CONNECT',
    );
    assert.equal(tunnel.status, 405, tunnel.text);
    assert.equal(jsonBody(tunnel).error?.code, 'HEADROOM_METHOD_NOT_ALLOWED');
    assert.match(tunnel.text, /\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/);
    assert.equal(g.up.received.length, before, 'nothing reached the upstream');
    // The gateway still serves.
    assert.equal((await rawRequest(g.t.url, 'GET /health/live HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n')).status, 200);
  });
});

describe('broken upstream framing and malformed requests answer in the error format', () => {
  let origin: Server;
  let t: TestGateway;
  before(async () => {
    // An upstream that speaks broken HTTP on purpose, chosen by path.
    origin = createServer((s) => {
      s.once('data', (d: Buffer) => {
        const path = d.toString('latin1').split(' ')[1];
        if (path === '/no-content-with-body') s.end('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello');
        else if (path === '/not-modified-with-body')
          s.end('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        else s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n');
      });
      s.on('error', () => {});
    });
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const { port } = origin.address() as { port: number };
    t = await startGateway({ UPSTREAM_URL: `http://127.0.0.1:${port}` });
  });
  after(async () => {
    await t.close();
    await new Promise((r) => origin.close(r));
  });

  test('an invalid first chunk size → 502 HEADROOM_UPSTREAM_ERROR, not an empty reply', async () => {
    const r = await rawRequest(t.url, 'GET /api/bad-chunk HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 502, JSON.stringify(r.text));
    assert.equal(jsonBody(r).error?.code, 'HEADROOM_UPSTREAM_ERROR');
  });

  test('204/304 with a body → the status without the bogus body, or 502; never an empty reply', async () => {
    for (const path of ['/api/no-content-with-body', '/api/not-modified-with-body']) {
      const r = await rawRequest(t.url, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.ok([204, 304, 502].includes(r.status), `${path}: ${JSON.stringify(r.text)}`);
      assert.doesNotMatch(r.text, /hello/);
    }
  });

  test('parser errors: 400 HEADROOM_BAD_REQUEST; oversized headers: 431 HEADROOM_HEADERS_TOO_LARGE', async () => {
    const cases: [string, number, string][] = [
      ['POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400, 'HEADROOM_BAD_REQUEST'],
      ['GET /api/x HTTP/1.1\r\nHost: a\rX: y\r\n\r\n', 400, 'HEADROOM_BAD_REQUEST'],
      ['GET /api/x HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n', 400, 'HEADROOM_BAD_REQUEST'],
      [`GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431, 'HEADROOM_HEADERS_TOO_LARGE'],
    ];
    for (const [data, status, code] of cases) {
      const r = await rawRequest(t.url, data);
      assert.equal(r.status, status, JSON.stringify(r.text.slice(0, 200)));
      assert.match(r.text, /\r\ncontent-type: application\/json/i);
      assert.equal(jsonBody(r).error?.code, code);
    }
    // A long URL counts against the same limit; the message says what the limit covers and how big it is.
    const longUrl = await rawRequest(t.url, `GET /api/${'u'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(longUrl.status, 431);
    assert.match(jsonBody(longUrl).error?.message ?? '', /request line and headers .* \(16384 bytes in all, the URL included/);
    // The gateway is still up.
    assert.equal((await request(`${t.url}/health/live`)).status, 200);
    // Each refusal is counted with the requests (route "rejected"), not left out of the metrics.
    const metrics = (await request(`${t.url}/metrics`)).text;
    const count = (status: number): number =>
      Number(
        new RegExp(`^headroom_http_requests_total\\{route="rejected",method="OTHER",status="${status}"\\} (\\d+)$`, 'm').exec(
          metrics,
        )?.[1] ?? 0,
      );
    assert.ok(
      count(400) >= 3,
      metrics
        .split('\n')
        .filter((l) => l.includes('rejected'))
        .join('\n'),
    );
    assert.ok(count(431) >= 2);
    // Also a malformed request after a good one on the same keep-alive connection.
    const { hostname, port } = new URL(t.url);
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.setEncoding('latin1').on('data', (d: string) => (received += d));
    socket.write('GET /health/live HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => received.includes('{"status":"ok"}'), 'the first answer');
    socket.write('GET /api/x HTTP/1.1\r\nHost: a\rX: y\r\n\r\n');
    await once(socket, 'close');
    assert.match(received, /HTTP\/1\.1 400 /);
    const after = (await request(`${t.url}/metrics`)).text;
    const again = Number(/^headroom_http_requests_total\{route="rejected",method="OTHER",status="400"\} (\d+)$/m.exec(after)?.[1] ?? 0);
    assert.equal(again, count(400) + 1, 'counted on a connection that carried a request before');
  });
});
