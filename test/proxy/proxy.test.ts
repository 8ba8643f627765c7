import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { Registry } from 'prom-client';
import { registerProxyMetrics } from '../../src/metrics/proxy.js';
import type { MemoryStatus, PressureListener, PressureSource } from '../../src/monitor/types.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { download, request, startGateway, startUpstream, within } from './helpers.js';

const TOKEN = 'tok-secret-123';

/** An upstream answering every request with an event stream that never ends (a client must leave). */
const eventStreamUpstream = (): ReturnType<typeof startUpstream> =>
  startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': open\n\n');
  });

for (const raw of [true, false]) {
  describe(`proxy through Fastify (${raw ? 'raw server path' : 'Fastify route path'})`, () => {
    test('streams with header rules: hop-by-hop, Connection-named, X-Forwarded-*, token, Host, path', async () => {
      const up = await startUpstream((req, res) => {
        res.writeHead(201, {
          'x-hop-named': '1',
          connection: 'x-hop-named',
          'keep-alive': 'timeout=5',
          'x-echo-auth': String(req.headers.authorization),
          'x-ok': 'yes',
          'content-type': 'text/plain',
        });
        res.end('hello');
      });
      const gw = await startGateway({ upstreamUrl: `${up.url}/base`, upstreamToken: TOKEN }, {}, { raw });
      try {
        const r = await request(`${gw.url}/api/items/1?q=2`, {
          headers: {
            host: 'example.test',
            connection: 'keep-alive, x-drop-me',
            'x-drop-me': '1',
            'keep-alive': 'timeout=5',
            'proxy-authorization': 'Basic abc',
            authorization: 'Bearer client-token',
            'x-forwarded-for': '1.2.3.4',
            te: 'trailers',
            'x-keep': 'yes',
          },
        });
        assert.equal(r.status, 201);
        assert.equal(r.body.toString(), 'hello');
        assert.equal(r.headers['x-ok'], 'yes');
        assert.equal(r.headers['x-hop-named'], undefined);
        assert.equal(r.headers['x-echo-auth'], undefined, 'a header carrying the token is never returned');
        assert.ok(!JSON.stringify(r.headers).includes(TOKEN));
        const got = up.received[0]!;
        assert.equal(got.url, '/base/items/1?q=2');
        assert.equal(got.headers.host, `127.0.0.1:${up.port}`);
        assert.equal(got.headers.authorization, `Bearer ${TOKEN}`);
        assert.equal(got.headers['x-forwarded-for'], '1.2.3.4, 127.0.0.1');
        assert.equal(got.headers['x-forwarded-host'], 'example.test');
        assert.equal(got.headers['x-forwarded-proto'], 'http');
        assert.equal(got.headers['x-keep'], 'yes');
        for (const h of ['x-drop-me', 'keep-alive', 'proxy-authorization', 'te']) assert.equal(got.headers[h], undefined, h);
        // Non-proxied routes still go through Fastify.
        assert.deepEqual(JSON.parse((await request(`${gw.url}/other`)).body.toString()), { ok: true });
      } finally {
        await gw.close();
        await up.close();
      }
    });

    test('TRACE is refused (405, Allow) and never reaches the upstream: its echo would show the token', async () => {
      // An upstream that honours TRACE, as RFC 9110 §9.3.8 describes: the request it received, as its body.
      const up = await startUpstream((req, res) => {
        res.writeHead(200, { 'content-type': 'message/http' });
        res.end(`${req.method} ${req.url}\r\n${JSON.stringify(req.headers)}`);
      });
      const gw = await startGateway({ upstreamUrl: up.url, upstreamToken: TOKEN }, {}, { raw });
      try {
        const r = await request(`${gw.url}/api/x`, { method: 'TRACE' });
        assert.equal(r.status, 405);
        assert.equal(r.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
        const body = JSON.parse(r.body.toString()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'HEADROOM_METHOD_NOT_ALLOWED');
        assert.match(body.error.message, /TRACE is not forwarded/);
        assert.ok(!r.body.toString().includes(TOKEN));
        assert.equal(up.received.length, 0);
        // Other methods the upstream may take (WebDAV's) still go through (Fastify routes only its own).
        if (raw) {
          assert.equal((await request(`${gw.url}/api/x`, { method: 'PROPFIND' })).status, 200);
          assert.equal(up.received.length, 1);
        }
      } finally {
        await gw.close();
        await up.close();
      }
    });

    test("dropHeaders: the app's own credentials are never passed upstream (any case), the rest is", async () => {
      const up = await startUpstream((_req, res) => res.end('ok'));
      const gw = await startGateway({ upstreamUrl: up.url, dropHeaders: ['X-Api-Key', 'cookie'] }, {}, { raw });
      try {
        const r = await request(`${gw.url}/api/x`, { headers: { 'x-api-key': 'app-secret', cookie: 'sid=1', 'x-keep': 'yes' } });
        assert.equal(r.status, 200);
        const got = up.received[0]!;
        assert.equal(got.headers['x-api-key'], undefined);
        assert.equal(got.headers.cookie, undefined);
        assert.equal(got.headers['x-keep'], 'yes');
      } finally {
        await gw.close();
        await up.close();
      }
    });

    test('every method under the prefix reaches the upstream; prefix kept when configured', async () => {
      const up = await startUpstream((req, res) => res.end(`${req.method} ${req.url}`));
      const gw = await startGateway({ upstreamUrl: up.url }, {}, { raw });
      const keep = await startGateway({ upstreamUrl: up.url, stripPrefix: false }, {}, { raw });
      try {
        for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
          const r = await request(`${gw.url}/api/m?x=1`, { method });
          assert.equal(r.body.toString(), `${method} /m?x=1`);
        }
        assert.equal((await request(`${gw.url}/api`)).body.toString(), 'GET /');
        assert.equal((await request(`${gw.url}/api/m`, { method: 'HEAD' })).status, 200);
        assert.equal((await request(`${keep.url}/api/m`)).body.toString(), 'GET /api/m');
      } finally {
        await gw.close();
        await keep.close();
        await up.close();
      }
    });

    test('uploads are streamed to the upstream; 5xx passes through unchanged', async () => {
      const up = await startUpstream((req, res) => {
        req.on('end', () => {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end(`got ${req.headers['content-length'] ?? 'chunked'}`);
        });
      });
      const gw = await startGateway({ upstreamUrl: up.url }, {}, { raw });
      try {
        const size = 32 * 1024 * 1024;
        const chunk = Buffer.alloc(64 * 1024, 7);
        const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request(
            `${gw.url}/api/upload`,
            { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream' } },
            (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c));
              res.on('end', () => resolve({ status: res.statusCode!, body }));
            },
          );
          req.on('error', reject);
          Readable.from(
            (function* () {
              for (let i = 0; i < size / chunk.length; i++) yield chunk;
            })(),
          ).pipe(req);
        });
        assert.equal(status.status, 503);
        assert.equal(status.body, 'got chunked');
        assert.equal(up.received.length, 1, 'no retry');
        assert.equal(up.received[0]!.bodyBytes, size);
        assert.equal(gw.proxy.stats().bytes.in, size);
      } finally {
        await gw.close();
        await up.close();
      }
    });
  });
}

describe('proxy rules', () => {
  test('path escapes → 400 HEADROOM_PATH_REJECTED without an upstream call; disabled → 404; draining → 503', async () => {
    const up = await startUpstream((_req, res) => res.end('x'));
    const gw = await startGateway({ upstreamUrl: up.url });
    const off = await startGateway({ upstreamUrl: up.url, enabled: false });
    try {
      for (const path of ['/api/../etc/passwd', '/api/%2e%2e/secret', '/api/%2E%2E%2Fsecret', '/api//x', '/api/a\\b']) {
        const r = await request(`${gw.url}${path}`, { path });
        assert.equal(r.status, 400, path);
        assert.equal(JSON.parse(r.body.toString()).error.code, 'HEADROOM_PATH_REJECTED');
        assert.match(JSON.parse(r.body.toString()).error.message, /would escape/);
      }
      for (const path of ['/api/echo/%zz', '/api/%c0%af']) {
        const r = await request(`${gw.url}${path}`, { path });
        assert.equal(r.status, 400, path);
        assert.match(JSON.parse(r.body.toString()).error.message, /malformed percent-escape/, path);
      }
      // Handed a URL outside its prefix (a framework route at another path): said as such.
      const direct = http.createServer((req, res) => gw.proxy.handle(req, res));
      await new Promise<void>((resolve) => direct.listen(0, '127.0.0.1', resolve));
      try {
        const outside = await request(`http://127.0.0.1:${(direct.address() as AddressInfo).port}/elsewhere?x=1`);
        assert.equal(outside.status, 400);
        assert.match(JSON.parse(outside.body.toString()).error.message, /not under the proxy's prefix \/api/);
      } finally {
        await new Promise((resolve) => direct.close(resolve));
      }
      const r = await request(`${off.url}/api/x`);
      assert.equal(r.status, 404);
      const body = JSON.parse(r.body.toString());
      assert.equal(body.error.code, 'HEADROOM_NOT_FOUND');
      assert.match(body.error.message, /ENABLE_STREAMING_PROXY=false/);
      assert.equal(up.received.length, 0);
      gw.proxy.drain();
      const drained = await request(`${gw.url}/api/x`);
      assert.equal(drained.status, 503);
      assert.equal(JSON.parse(drained.body.toString()).error.code, 'HEADROOM_DRAINING');
      assert.equal(drained.headers.connection, 'close');
    } finally {
      await gw.close();
      await off.close();
      await up.close();
    }
  });

  test('unreachable upstream → 502; no headers within STREAM_TIMEOUT → 504 and the upstream request is dropped', async () => {
    // Port 1: nothing listens there, and no test's server can take it (a port freed by close() was
    // once taken by a parallel test's server before the gateway connected: 504 after 30 s, not 502).
    const deadUrl = 'http://127.0.0.1:1';
    const stall = await startUpstream(() => {});
    const gw1 = await startGateway({ upstreamUrl: deadUrl });
    const gw2 = await startGateway({ upstreamUrl: stall.url, streamTimeout: 300 });
    try {
      const r1 = await request(`${gw1.url}/api/x`);
      assert.equal(r1.status, 502);
      assert.equal(JSON.parse(r1.body.toString()).error.code, 'HEADROOM_UPSTREAM_UNREACHABLE');
      assert.match(JSON.parse(r1.body.toString()).error.message, /^upstream refused the connection \(ECONNREFUSED/);
      const r2 = await request(`${gw2.url}/api/x`);
      assert.equal(r2.status, 504);
      assert.equal(JSON.parse(r2.body.toString()).error.code, 'HEADROOM_UPSTREAM_TIMEOUT');
      await within(stall.received[0]!.settled, 3_000, 'upstream socket closed');
      assert.equal(stall.received[0]!.aborted, true);
      assert.equal(gw1.proxy.stats().errors.unreachable, 1);
      assert.equal(gw2.proxy.stats().errors.timeout, 1);
      assert.equal(gw2.proxy.stats().inFlight, 0);
    } finally {
      await gw1.close();
      await gw2.close();
      await stall.close();
    }
  });

  test('an upstream host name that does not resolve → 502 saying so, not "refused"', async () => {
    // .invalid never resolves (RFC 2606); the resolver answers at once, network or not.
    const gw = await startGateway({ upstreamUrl: 'http://upstream.invalid' });
    try {
      const r = await request(`${gw.url}/api/x`);
      assert.equal(r.status, 502);
      const { error } = JSON.parse(r.body.toString());
      assert.equal(error.code, 'HEADROOM_UPSTREAM_UNREACHABLE');
      assert.match(error.message, /^upstream's host name did not resolve \((ENOTFOUND|EAI_AGAIN)\)$/);
    } finally {
      await gw.close();
    }
  });

  test('an upstream that answers 101 Switching Protocols → 502 saying so, not "refused or dropped the connection"', async () => {
    const upgrading = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    });
    await new Promise<void>((resolve) => upgrading.listen(0, '127.0.0.1', resolve));
    const gw = await startGateway({ upstreamUrl: `http://127.0.0.1:${(upgrading.address() as AddressInfo).port}` });
    try {
      const r = await request(`${gw.url}/api/switch`);
      assert.equal(r.status, 502);
      const { error } = JSON.parse(r.body.toString()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'HEADROOM_UPSTREAM_ERROR');
      assert.match(error.message, /101 Switching Protocols/);
    } finally {
      await gw.close();
      await new Promise((resolve) => upgrading.close(resolve));
    }
  });

  test('a reason phrase Node refuses (a control character, bytes past ASCII) is dropped, not the connection', async () => {
    const reasons = [
      Buffer.from('Fine\x01', 'latin1'),
      Buffer.from('Caf\xe9', 'latin1'),
      Buffer.from('Ünï ✓', 'utf8'),
      Buffer.from('All good'),
    ];
    const odd = net.createServer((socket) => {
      socket.once('data', () => {
        const head = Buffer.concat([Buffer.from('HTTP/1.1 200 '), reasons.shift()!, Buffer.from('\r\n')]);
        socket.end(Buffer.concat([head, Buffer.from('content-length: 5\r\nconnection: close\r\n\r\nhello')]));
      });
    });
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
    const gw = await startGateway({ upstreamUrl: `http://127.0.0.1:${(odd.address() as AddressInfo).port}` });
    try {
      const get = (): Promise<{ status: number; reason: string; body: string }> =>
        new Promise((resolve, reject) => {
          http
            .get(`${gw.url}/api/odd`, { agent: false }, (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString()));
              res.on('end', () => resolve({ status: res.statusCode!, reason: res.statusMessage!, body }));
            })
            .on('error', reject);
        });
      for (const what of ['a control character', 'obs-text (latin1)', 'UTF-8']) {
        assert.deepEqual(await get(), { status: 200, reason: 'OK', body: 'hello' }, what);
      }
      assert.deepEqual(await get(), { status: 200, reason: 'All good', body: 'hello' }, 'a plain one is passed on');
    } finally {
      await gw.close();
      await new Promise((resolve) => odd.close(resolve));
    }
  });

  test('a 304 or 204 that declares a Content-Length is passed on complete (RFC 9110 §8.6), not a 502', async (t) => {
    // Servers that send the length of the body a 304 stands for exist (RFC 9110 allows it); undici
    // fails such a response after its head. Each answer is the head alone, on a kept-alive socket.
    let requests = 0;
    const sockets = new Set<net.Socket>();
    const upstream = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('latin1').split('\r\n')) {
          if (!line.startsWith('GET ')) continue;
          requests++;
          socket.write(
            line.includes('/gone-quiet')
              ? 'HTTP/1.1 204 No Content\r\ncontent-length: 5\r\nx-answer: 204\r\n\r\n'
              : 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncontent-length: 4200\r\ncache-control: max-age=60\r\n\r\n',
          );
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    t.after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => upstream.close(resolve));
    });
    for (const raw of [false, true]) {
      const gw = await startGateway({ upstreamUrl }, {}, { raw });
      try {
        for (let i = 0; i < 2; i++) {
          const nm = await request(`${gw.url}/api/page`, { headers: { 'if-none-match': '"v1"' } });
          assert.equal(nm.status, 304, `raw=${raw}: ${nm.body.toString()}`);
          assert.equal(nm.headers.etag, '"v1"');
          assert.equal(nm.body.length, 0);
          const quiet = await request(`${gw.url}/api/gone-quiet`);
          assert.equal(quiet.status, 204, `raw=${raw}: ${quiet.body.toString()}`);
          assert.equal(quiet.headers['x-answer'], '204');
        }
        assert.deepEqual(
          Object.entries(gw.proxy.stats().errors).filter(([, n]) => n > 0),
          [],
        );
      } finally {
        await gw.close();
      }
    }
    assert.equal(requests, 8);
  });

  test('reset mid-body or idle body → client connection destroyed, never a complete-looking body', async () => {
    // The reset comes once the client has body bytes (so the head was relayed), not after a fixed wait.
    let reset: (() => void) | undefined;
    const up = await startUpstream((req, res) => {
      if (req.url === '/reset-chunked') {
        res.writeHead(200);
        res.write(Buffer.alloc(100_000));
        reset = () => req.socket.destroy();
      } else if (req.url === '/reset-length') {
        res.writeHead(200, { 'content-length': 1_000_000 });
        res.write(Buffer.alloc(100_000));
        reset = () => req.socket.destroy();
      } else {
        reset = undefined;
        res.writeHead(200);
        res.write(Buffer.alloc(1000)); // then idles forever
      }
    });
    const gw = await startGateway({ upstreamUrl: up.url, streamTimeout: 400 });
    try {
      for (const path of ['/reset-chunked', '/reset-length', '/idle']) {
        const d = await within(download(`${gw.url}/api${path}`, { onData: () => reset?.() }), 5_000, path);
        assert.equal(d.status, 200, path);
        assert.equal(d.complete, false, `${path}: body must not look complete`);
      }
      const e = gw.proxy.stats().errors;
      assert.equal(e.reset, 2);
      assert.equal(e.bodyTimeout, 1);
      assert.equal(gw.proxy.stats().inFlight, 0);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('client abort mid-body → upstream request aborted, slot released', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 10);
      res.on('close', () => clearInterval(timer));
    });
    const gw = await startGateway({ upstreamUrl: up.url });
    try {
      const d = await within(download(`${gw.url}/api/forever`, { abortAfterBytes: 64 * 1024 }), 5_000, 'download');
      assert.equal(d.complete, false);
      await within(up.received[0]!.settled, 3_000, 'upstream abort');
      assert.equal(up.received[0]!.aborted, true);
      await waitFor(() => gw.proxy.stats().inFlight === 0, 'the slot to be released');
      assert.equal(gw.proxy.stats().errors.clientAbort, 1);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('client abort before the response headers → upstream request aborted', async () => {
    const up = await startUpstream(() => {}); // never answers
    const gw = await startGateway({ upstreamUrl: up.url });
    try {
      const req = http.get(`${gw.url}/api/wait`, { agent: false });
      req.on('error', () => {});
      await waitFor(() => up.received.length > 0, 'the request upstream');
      req.destroy();
      await within(up.received[0]!.settled, 3_000, 'upstream abort');
      assert.equal(up.received[0]!.aborted, true);
      await waitFor(() => gw.proxy.stats().inFlight === 0, 'the slot to be released');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('a client that stops reading is cut after CLIENT_READ_TIMEOUT, not the upload bound CLIENT_TIMEOUT', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const gw = await startGateway({ upstreamUrl: up.url, clientTimeout: 200, clientReadTimeout: 1500 });
    try {
      const socket = net.connect((gw.app.server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => {});
      socket.pause(); // never reads
      socket.write('GET /api/big HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => gw.proxy.stats().inFlight === 1, 'the download in flight');
      const started = performance.now();
      await waitFor(() => gw.proxy.stats().inFlight === 0, 'the stalled reader cut', 10_000);
      // Its socket filled about when `started` was taken: cut near the read bound, far past the upload bound's 200 ms.
      assert.ok(performance.now() - started >= 1000, `cut after ${Math.round(performance.now() - started)} ms`);
      assert.equal(gw.proxy.stats().errors.clientTimeout, 1);
      socket.destroy();
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('the upload rate is judged over one CLIENT_TIMEOUT also when a much shorter CLIENT_READ_TIMEOUT makes the sweep look often', async () => {
    const up = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('uploaded'));
    });
    // The sweep looks every 25 ms; the rate window still spans 1 s (in four samples, not 40 looks).
    const gw = await startGateway({ upstreamUrl: up.url, clientTimeout: 1000, clientReadTimeout: 100, clientMinRate: 512 });
    const socket = net.connect((gw.app.server.address() as AddressInfo).port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('POST /api/up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const trickle = setInterval(() => socket.write('b'), 50); // 20 bytes a second
    try {
      const reply = await within(
        new Promise<string>((resolve) => {
          let text = '';
          socket.on('data', (c: Buffer) => (text += c.toString()));
          socket.on('close', () => resolve(text));
        }),
        10_000,
        'the 408',
      );
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.match(reply, /came slower than 512 bytes a second over 1000 ms \(CLIENT_MIN_RATE, CLIENT_TIMEOUT\)/);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      await gw.close();
      await up.close();
    }
  });

  test('a pipelined request queued for a slot whose client is gone never reaches the upstream', async () => {
    const up = await eventStreamUpstream();
    const gw = await startGateway({ upstreamUrl: up.url }, { maxConcurrent: 1 });
    try {
      const socket = net.connect((gw.app.server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('GET /api/a HTTP/1.1\r\nHost: x\r\n\r\nGET /api/b HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => gw.admission.stats().queued === 1 && up.received.length === 1, 'the first upstream, the second queued');
      socket.destroy(); // the first's response closes; the second's (queued behind it) says nothing
      await waitFor(() => gw.proxy.stats().inFlight === 0 && gw.admission.stats().queued === 0, 'the slot and the queue empty');
      assert.deepEqual(
        up.received.map((r) => r.url),
        ['/a'],
        'the second request was not sent for a client that is gone',
      );
      assert.equal(gw.proxy.stats().errors.clientAbort, 2);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('pipelined requests on a connection the client closes are aborted upstream and free their slots', async () => {
    // Node emits no 'close' on a response still queued behind another one on the connection.
    const up = await eventStreamUpstream();
    const gw = await startGateway({ upstreamUrl: up.url, clientTimeout: 400 });
    try {
      const socket = net.connect((gw.app.server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(3));
      await waitFor(() => up.received.length === 3 && gw.proxy.stats().inFlight === 3, 'three pipelined requests upstream');
      socket.destroy();
      await within(Promise.all(up.received.map((r) => r.settled)), 3_000, 'every upstream request aborted');
      assert.deepEqual(
        up.received.map((r) => r.aborted),
        [true, true, true],
      );
      await waitFor(() => gw.proxy.stats().inFlight === 0, 'the slots released');
      assert.equal(gw.proxy.stats().errors.clientAbort, 3);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('overload → 503 + Retry-After without an upstream call or body read; Connection: close for unread bodies', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const up = await startUpstream((_req, res) => void gate.then(() => res.end('late')));
    const gw = await startGateway({ upstreamUrl: up.url }, { maxConcurrent: 1, queueSize: 0 });
    try {
      const first = request(`${gw.url}/api/slow`);
      await waitFor(() => up.received.length > 0, 'the first request upstream');
      const r = await request(`${gw.url}/api/x`);
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(JSON.parse(r.body.toString()).error.code, 'HEADROOM_OVERLOADED');
      assert.ok(r.body.length < 300);
      const post = await request(`${gw.url}/api/x`, { method: 'POST', body: Buffer.alloc(10_000) });
      assert.equal(post.status, 503);
      assert.equal(post.headers.connection, 'close');
      assert.equal(up.received.length, 1);
      release();
      assert.equal((await first).body.toString(), 'late');
      assert.equal(gw.proxy.stats().rejected.concurrency, 2);
    } finally {
      release();
      await gw.close();
      await up.close();
    }
  });

  test("maxPerClient on Fastify routes counts Fastify's request.ip (trustProxy applied) → 429 HEADROOM_CLIENT_LIMIT", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const up = await startUpstream((req, res) => (req.url === '/hold' ? void gate.then(() => res.end('late')) : res.end('ok')));
    const gw = await startGateway({ upstreamUrl: up.url }, { maxConcurrent: 4, maxPerClient: 1 }, { raw: false }, { trustProxy: true });
    const from = (client: string, path: string) => request(`${gw.url}/api${path}`, { headers: { 'x-forwarded-for': client } });
    try {
      const first = from('203.0.113.5', '/hold');
      await waitFor(() => up.received.length > 0, 'the first request upstream');
      const r = await from('203.0.113.5', '/x');
      assert.equal(r.status, 429);
      assert.equal(JSON.parse(r.body.toString()).error.code, 'HEADROOM_CLIENT_LIMIT');
      assert.equal((await from('203.0.113.6', '/x')).body.toString(), 'ok');
      release();
      assert.equal((await first).body.toString(), 'late');
      assert.equal(gw.proxy.stats().rejected.client, 1);
    } finally {
      release();
      await gw.close();
      await up.close();
    }
  });

  test('queued requests wait for a slot, time out with 503 HEADROOM_QUEUE_TIMEOUT, and leave the queue when the client goes', async () => {
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const up = await startUpstream((_req, res) => void gate.then(() => res.end('done')));
    const gw = await startGateway({ upstreamUrl: up.url }, { maxConcurrent: 1, queueSize: 5, queueTimeout: 300 });
    try {
      const first = request(`${gw.url}/api/1`);
      await waitFor(() => up.received.length > 0, 'the first request upstream');
      const timedOut = await request(`${gw.url}/api/2`);
      assert.equal(timedOut.status, 503);
      assert.equal(JSON.parse(timedOut.body.toString()).error.code, 'HEADROOM_QUEUE_TIMEOUT');
      // A client that gives up while queued frees its queue place at once.
      const gone = http.get(`${gw.url}/api/3`, { agent: false });
      gone.on('error', () => {});
      await waitFor(() => gw.proxy.stats().queued === 1, 'the request to queue');
      gone.destroy();
      await waitFor(() => gw.proxy.stats().queued === 0, 'the gone client to leave the queue');
      const waiting = request(`${gw.url}/api/4`);
      await waitFor(() => gw.proxy.stats().queued === 1, 'the request to queue');
      release();
      gate = Promise.resolve();
      assert.equal((await first).body.toString(), 'done');
      assert.equal((await waiting).body.toString(), 'done');
      const s = gw.proxy.stats();
      assert.equal(s.rejected.queueTimeout, 1);
      assert.equal(s.errors.clientAbort, 1);
      assert.deepEqual(
        up.received.map((r) => r.url),
        ['/1', '/4'],
      );
    } finally {
      release();
      await gw.close();
      await up.close();
    }
  });

  test('memory breaker → 503 HEADROOM_MEMORY_PRESSURE; critical pressure sheds the largest response', async () => {
    let level: MemoryStatus = 'healthy';
    const listeners = new Set<PressureListener>();
    const monitor: PressureSource = { status: () => level, onPressure: (l) => (listeners.add(l), () => void listeners.delete(l)) };
    const up = await startUpstream((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 10);
      res.on('close', () => clearInterval(timer));
    });
    const gw = await startGateway({ upstreamUrl: up.url }, { monitor });
    try {
      const d = download(`${gw.url}/api/big`);
      await waitFor(() => gw.proxy.stats().bytes.out >= 32 * 1024, 'body bytes relayed');
      level = 'critical';
      for (const l of listeners) l('critical');
      const got = await within(d, 3_000, 'shed download');
      assert.equal(got.complete, false);
      const r = await request(`${gw.url}/api/x`);
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body.toString()).error.code, 'HEADROOM_MEMORY_PRESSURE');
      const s = gw.proxy.stats();
      assert.equal(s.shed, 1);
      assert.equal(s.rejected.memory, 1);
      assert.equal(up.received.length, 1);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('Expect: 100-continue uploads are relayed (Node answers the 100, undici never sees Expect)', async () => {
    const up = await startUpstream((req, res) => req.on('end', () => res.end(`got ${req.headers.expect ?? 'no expect'}`)));
    const gw = await startGateway({ upstreamUrl: up.url });
    try {
      const r = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          `${gw.url}/api/up`,
          { method: 'PUT', agent: false, headers: { expect: '100-continue', 'content-length': 5 } },
          (res) => {
            let b = '';
            res.on('data', (c: Buffer) => (b += c));
            res.on('end', () => resolve(b));
          },
        );
        req.on('continue', () => req.end('hello'));
        req.on('error', reject);
      });
      assert.equal(r, 'got no expect');
      assert.equal(up.received[0]!.bodyBytes, 5);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('stats endpoint and Prometheus metrics', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    const gw = await startGateway({ upstreamUrl: up.url });
    try {
      await request(`${gw.url}/api/a`);
      const stats = JSON.parse((await request(`${gw.url}/admin/proxy-stats`)).body.toString());
      assert.equal(stats.requests, 1);
      assert.equal(stats.inFlight, 0);
      assert.equal(stats.bytes.out, 2);
      assert.equal(stats.latencyMs.samples, 1);
      assert.ok('concurrency' in stats.rejected && 'memory' in stats.rejected && 'queueTimeout' in stats.rejected);
      const registry = new Registry();
      registerProxyMetrics(registry, gw.proxy);
      const text = await registry.metrics();
      assert.match(text, /headroom_proxy_requests_total 1/);
      assert.match(text, /headroom_proxy_bytes_total\{direction="out"\} 2/);
      assert.match(text, /headroom_proxy_rejected_total\{reason="memory"\} 0/);
      assert.match(text, /^headroom_proxy_upstream_latency_seconds_count 1$/m);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('GC assist: a young-generation GC after every PROXY_GC_ASSIST bytes relayed, counted in stats and metrics', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 1);
    const up = await startUpstream((_req, res) => res.end(body));
    const gw = await startGateway({ upstreamUrl: up.url, gcAssistBytes: 1024 * 1024 });
    const off = await startGateway({ upstreamUrl: up.url, gcAssistBytes: 0 });
    try {
      assert.equal((await request(`${gw.url}/api/big`)).body.length, body.length);
      assert.equal(gw.proxy.stats().gcAssists, 5);
      const registry = new Registry();
      registerProxyMetrics(registry, gw.proxy);
      assert.match(await registry.metrics(), /headroom_proxy_gc_assists_total 5/);
      await request(`${off.url}/api/big`);
      assert.equal(off.proxy.stats().gcAssists, 0);
    } finally {
      await Promise.all([gw.close(), off.close()]);
      await up.close();
    }
  });

  test('close() is idempotent and leaves no handle behind', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await startUpstream((_req, res) => res.end('ok'));
      const gw = await startGateway({ upstreamUrl: up.url });
      assert.equal((await request(`${gw.url}/api/x`)).status, 200);
      await gw.close();
      await gw.proxy.close();
      await gw.admission.close();
      await up.close();
    });
  });
});
