// proxy.fetch(request): the proxy's rules over Web Request/Response, against real upstream servers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdmission, type AdmissionOptions } from '../../src/admission/index.js';
import { createProxy, type Proxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import { WEB_HIGH_WATER_MARK } from '../../src/proxy/web.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { heldUpstream, mapCache, startUpstream, within } from './helpers.js';

const TOKEN = 'tok-web-456';
const GW = 'http://gw.test';

async function withProxy(
  options: Omit<ProxyOptions, 'admission'>,
  limits: Partial<AdmissionOptions>,
  use: (p: Proxy) => Promise<void>,
): Promise<void> {
  const admission = createAdmission({ maxConcurrent: 20, queueSize: 100, queueTimeout: 5_000, memoryThresholdPercent: 99, ...limits });
  const proxy = createProxy({ ...options, admission });
  try {
    await use(proxy);
  } finally {
    await admission.close();
    await proxy.close();
  }
}

/** A ReadableStream of `total` bytes in `chunk`-sized pieces, made on demand. */
function source(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  const block = Buffer.alloc(chunk, 7);
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(chunk, total - sent);
      sent += n;
      c.enqueue(n === chunk ? block : block.subarray(0, n));
    },
  });
}

async function drain(body: ReadableStream<Uint8Array> | null): Promise<number> {
  let n = 0;
  if (!body) return 0;
  for await (const c of body) n += c.length;
  return n;
}

describe('proxy.fetch (Web Request/Response)', () => {
  test('header rules, token injection, path and query mapping, status and headers relayed', async () => {
    const up = await startUpstream((req, res) => {
      res.writeHead(201, {
        'x-hop-named': '1',
        connection: 'x-hop-named',
        'keep-alive': 'timeout=5',
        'x-echo-auth': String(req.headers.authorization),
        'x-ok': 'yes',
        'set-cookie': ['a=1', 'b=2'],
        'content-type': 'text/plain',
      });
      res.end(`${req.method} ${req.url}`);
    });
    try {
      await withProxy({ upstreamUrl: `${up.url}/base`, upstreamToken: TOKEN }, {}, async (proxy) => {
        const r = await proxy.fetch(
          new Request(`${GW}/api/items/1?q=2&x=%20y`, {
            headers: {
              host: 'example.test',
              'x-drop-me': '1',
              connection: 'x-drop-me',
              authorization: 'Bearer client-token',
              'x-forwarded-for': '1.2.3.4',
              'x-keep': 'yes',
            },
          }),
          { remoteAddress: '10.0.0.9' },
        );
        assert.equal(r.status, 201);
        assert.equal(await r.text(), 'GET /base/items/1?q=2&x=%20y');
        assert.equal(r.headers.get('x-ok'), 'yes');
        assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
        assert.equal(r.headers.get('x-hop-named'), null);
        assert.equal(r.headers.get('keep-alive'), null);
        assert.equal(r.headers.get('x-echo-auth'), null, 'a header carrying the token is never returned');
        const got = up.received[0]!;
        assert.equal(got.headers.authorization, `Bearer ${TOKEN}`);
        assert.equal(got.headers.host, `127.0.0.1:${up.port}`);
        assert.equal(got.headers['x-forwarded-for'], '1.2.3.4, 10.0.0.9');
        assert.equal(got.headers['x-forwarded-host'], 'example.test');
        assert.equal(got.headers['x-forwarded-proto'], 'http');
        assert.equal(got.headers['x-keep'], 'yes');
        assert.equal(got.headers['x-drop-me'], undefined);
        // Without a remote address the client's X-Forwarded-For is passed on as received.
        await (await proxy.fetch(new Request(`${GW}/api/x`, { headers: { 'x-forwarded-for': '5.6.7.8' } }))).text();
        assert.equal(up.received[1]!.headers['x-forwarded-for'], '5.6.7.8');
        // The connection's protocol when the framework says the URL's is not it (Next.js takes that
        // from the client's X-Forwarded-Proto); a client's X-Forwarded-Port and X-Real-IP are dropped.
        const forged = {
          'x-forwarded-proto': 'https',
          'x-forwarded-port': '443',
          'x-real-ip': '6.6.6.6',
          'x-client-ip': '6.6.6.6',
          'true-client-ip': '6.6.6.6',
          'x-forwarded-prefix': '/admin',
          'x-original-url': '/admin/secret',
          'x-rewrite-url': '/admin/secret',
        };
        await (await proxy.fetch(new Request('https://app.test/api/p', { headers: forged }), { protocol: 'http' })).text();
        const p = up.received[2]!.headers;
        assert.equal(p['x-forwarded-proto'], 'http');
        for (const name of Object.keys(forged).slice(1)) assert.equal(p[name], undefined, name);
        // HEAD and 204: no body, headers kept.
        const head = await proxy.fetch(new Request(`${GW}/api/h`, { method: 'HEAD' }));
        assert.equal(head.status, 201);
        assert.equal(head.body, null);
        assert.equal(proxy.stats().inFlight, 0);
        assert.equal(proxy.stats().requests, 4);
      });
    } finally {
      await up.close();
    }
  });

  test("with trustForwarded the load balancer's X-Forwarded-Proto/-Host/-Port and X-Real-IP are kept", async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    try {
      await withProxy({ upstreamUrl: up.url, trustForwarded: true }, {}, async (proxy) => {
        const lb = {
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'shop.example',
          'x-forwarded-port': '443',
          'x-real-ip': '203.0.113.7',
        };
        await (await proxy.fetch(new Request(`${GW}/api/p`, { headers: lb }), { protocol: 'http' })).text();
        const h = up.received[0]!.headers;
        assert.deepEqual(
          [h['x-forwarded-proto'], h['x-forwarded-host'], h['x-forwarded-port'], h['x-real-ip']],
          ['https', 'shop.example', '443', '203.0.113.7'],
        );
      });
    } finally {
      await up.close();
    }
  });

  test("identityEncoding: the upstream is asked for identity, once, whatever the client accepts; without it the client's Accept-Encoding goes on", async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    try {
      await withProxy({ upstreamUrl: up.url }, {}, async (proxy) => {
        const asked = async (info: { identityEncoding?: boolean }): Promise<string[]> => {
          const from = up.received.length;
          await (await proxy.fetch(new Request(`${GW}/api/e`, { headers: { 'accept-encoding': 'gzip, br' } }), info)).text();
          const raw = up.received[from]!.rawHeaders;
          return raw.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'accept-encoding' ? [raw[i + 1]!] : []));
        };
        assert.deepEqual(await asked({ identityEncoding: true }), ['identity']);
        assert.deepEqual(await asked({}), ['gzip, br']);
      });
    } finally {
      await up.close();
    }
  });

  test('path escapes → 400 without an upstream call; disabled → 404; draining → 503', async () => {
    const up = await startUpstream((_req, res) => res.end('no'));
    try {
      await withProxy({ upstreamUrl: up.url }, {}, async (proxy) => {
        for (const path of ['/api/%252e%252e/secret', '/api//etc/passwd', '/api/a/%2E%252E/b', '/elsewhere']) {
          const r = await proxy.fetch(new Request(`${GW}${path}`));
          assert.equal(r.status, 400, path);
          const { error } = (await r.json()) as { error: { code: string; message: string } };
          assert.equal(error.code, 'HEADROOM_PATH_REJECTED');
          // A URL outside the prefix is a set-up mistake (a route folder other than the prefix), said so.
          assert.match(error.message, path === '/elsewhere' ? /not under the proxy's prefix \/api/ : /would escape/, path);
          assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
        }
        assert.equal(up.received.length, 0);
        assert.equal(proxy.stats().errors.pathRejected, 4);
        proxy.drain();
        const d = await proxy.fetch(new Request(`${GW}/api/x`));
        assert.equal(d.status, 503);
        assert.equal(((await d.json()) as { error: { code: string } }).error.code, 'HEADROOM_DRAINING');
      });
      await withProxy({ upstreamUrl: up.url, enabled: false }, {}, async (proxy) => {
        const r = await proxy.fetch(new Request(`${GW}/api/x`));
        assert.equal(r.status, 404);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'HEADROOM_NOT_FOUND');
      });
    } finally {
      await up.close();
    }
  });

  test('a large download streams with at most the high-water mark plus one read buffered for a slow reader', async () => {
    const total = 96 * 1024 * 1024;
    const block = Buffer.alloc(256 * 1024, 1);
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': String(total) });
      let sent = 0;
      const write = (): void => {
        while (sent < total) {
          sent += block.length;
          if (!res.write(block)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    try {
      await withProxy({ upstreamUrl: up.url }, {}, async (proxy) => {
        const rss0 = process.memoryUsage().rss;
        const r = await proxy.fetch(new Request(`${GW}/api/big`));
        assert.equal(r.status, 200);
        const reader = r.body!.getReader();
        let consumed = 0;
        let maxAhead = 0;
        let reads = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          consumed += value.length;
          // Slow for the first 2 MB: the upstream must wait for us rather than fill memory.
          if (consumed < 2 * 1024 * 1024 && reads++ % 4 === 0) await sleep(5);
          maxAhead = Math.max(maxAhead, proxy.stats().bytes.out - consumed);
        }
        assert.equal(consumed, total);
        const bound = WEB_HIGH_WATER_MARK + 256 * 1024;
        assert.ok(maxAhead <= bound, `at most ${bound} bytes ahead of the reader, saw ${maxAhead}`);
        const grew = process.memoryUsage().rss - rss0;
        assert.ok(grew < 64 * 1024 * 1024, `RSS grew ${grew} bytes while relaying ${total}`);
        assert.equal(proxy.stats().inFlight, 0);
      });
    } finally {
      await up.close();
    }
  });

  test('uploads are streamed to the upstream (30 MB) and counted', async () => {
    const total = 30 * 1024 * 1024;
    const up = await startUpstream((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
    });
    try {
      await withProxy({ upstreamUrl: up.url }, {}, async (proxy) => {
        const r = await proxy.fetch(
          new Request(`${GW}/api/upload`, {
            method: 'POST',
            body: source(total),
            duplex: 'half',
            headers: { 'content-type': 'application/octet-stream' },
          } as RequestInit),
        );
        assert.equal(r.status, 200);
        assert.equal(await r.text(), String(total));
        assert.equal(up.received[0]!.headers['transfer-encoding'], 'chunked');
        assert.equal(proxy.stats().bytes.in, total);
      });
    } finally {
      await up.close();
    }
  });

  test('overload → 503 + Retry-After; queued requests leave the queue when the client goes', async () => {
    const up = await heldUpstream('late');
    try {
      await withProxy({ upstreamUrl: up.url }, { maxConcurrent: 1, queueSize: 1 }, async (proxy) => {
        const first = proxy.fetch(new Request(`${GW}/api/one`));
        await within(up.arrived, 2_000, 'the first request upstream');
        const ac = new AbortController();
        const queued = proxy.fetch(new Request(`${GW}/api/two`, { signal: ac.signal }));
        await waitFor(() => proxy.stats().queued === 1, 'a queued request');
        const refused = await proxy.fetch(new Request(`${GW}/api/three`, { method: 'POST', body: 'x' }));
        assert.equal(refused.status, 503);
        assert.equal(refused.headers.get('retry-after'), '1');
        assert.equal(refused.headers.get('connection'), 'close', 'the unread body is not waited for');
        assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'HEADROOM_OVERLOADED');
        ac.abort();
        const gone = await queued;
        assert.equal(gone.status, 499);
        assert.equal(proxy.stats().queued, 0);
        up.release();
        assert.equal(await (await first).text(), 'late');
        assert.equal(up.received.length, 1, 'neither refused nor abandoned requests reached the upstream');
        assert.equal(proxy.stats().inFlight, 0);
      });
    } finally {
      await up.close();
    }
  });

  test('client abort before headers and mid-body aborts the upstream request and releases the slot once', async () => {
    const held = await heldUpstream();
    const streaming = await startUpstream((_req, res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(1024));
      // never ends
    });
    try {
      await withProxy({ upstreamUrl: held.url }, { maxConcurrent: 1, queueSize: 0 }, async (proxy) => {
        const ac = new AbortController();
        const p = proxy.fetch(new Request(`${GW}/api/wait`, { signal: ac.signal }));
        await within(held.arrived, 2_000, 'the request upstream');
        assert.equal(proxy.stats().inFlight, 1);
        ac.abort();
        const r = await p;
        assert.equal(r.status, 499);
        await within(held.received[0]!.settled, 2_000, 'the upstream request to be dropped');
        assert.equal(held.received[0]!.aborted, true);
        await waitFor(() => proxy.stats().inFlight === 0, 'the slot released');
        assert.equal(proxy.stats().admission.inFlight, 0);
        assert.equal(proxy.stats().errors.clientAbort, 1);
      });
      await withProxy({ upstreamUrl: streaming.url }, { maxConcurrent: 1, queueSize: 0 }, async (proxy) => {
        // Mid-body, twice: the consumer cancels the stream, and the request signal aborts after.
        const ac = new AbortController();
        const r = await proxy.fetch(new Request(`${GW}/api/s`, { signal: ac.signal }));
        const reader = r.body!.getReader();
        assert.equal((await reader.read()).value!.length, 1024);
        await reader.cancel();
        ac.abort();
        await within(streaming.received[0]!.settled, 2_000, 'the upstream request to be dropped');
        await waitFor(() => proxy.stats().inFlight === 0, 'the slot released');
        // Exactly once: the one slot is free for the next request (and not counted twice).
        assert.equal(proxy.stats().admission.inFlight, 0);
        assert.equal(proxy.stats().errors.clientAbort, 1);
        const next = await proxy.fetch(new Request(`${GW}/api/s`));
        assert.equal(next.status, 200);
        await next.body!.cancel();
        await waitFor(() => proxy.stats().inFlight === 0, 'the second slot released');
      });
    } finally {
      await held.close();
      await streaming.close();
    }
  });

  test('no headers, or headers and no body, within STREAM_TIMEOUT → 504; reset mid-body → the stream errors; unreachable → 502', async () => {
    const silent = await startUpstream(() => {});
    const mute = await startUpstream((_req, res) => res.flushHeaders());
    const cut = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000), () => setTimeout(() => res.destroy(), 20));
    });
    try {
      await withProxy({ upstreamUrl: silent.url, streamTimeout: 200 }, {}, async (proxy) => {
        const r = await proxy.fetch(new Request(`${GW}/api/slow`));
        assert.equal(r.status, 504);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'HEADROOM_UPSTREAM_TIMEOUT');
        assert.equal(proxy.stats().errors.timeout, 1);
        assert.equal(proxy.stats().inFlight, 0);
      });
      await withProxy({ upstreamUrl: mute.url, streamTimeout: 200 }, {}, async (proxy) => {
        const r = await proxy.fetch(new Request(`${GW}/api/mute`));
        assert.equal(r.status, 504);
        const { error } = (await r.json()) as { error: { code: string; message: string } };
        assert.equal(error.code, 'HEADROOM_UPSTREAM_TIMEOUT');
        assert.match(error.message, /headers, then no body bytes for 200 ms/);
        assert.equal(proxy.stats().inFlight, 0);
      });
      await withProxy({ upstreamUrl: cut.url }, {}, async (proxy) => {
        const r = await proxy.fetch(new Request(`${GW}/api/cut`));
        assert.equal(r.status, 200);
        await assert.rejects(drain(r.body), 'a cut body is an error, never a complete-looking one');
        assert.equal(proxy.stats().inFlight, 0);
      });
      const port = silent.port;
      await silent.close();
      await withProxy({ upstreamUrl: `http://127.0.0.1:${port}` }, {}, async (proxy) => {
        const r = await proxy.fetch(new Request(`${GW}/api/x`));
        assert.equal(r.status, 502);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'HEADROOM_UPSTREAM_UNREACHABLE');
      });
    } finally {
      await silent.close();
      await mute.close();
      await cut.close();
    }
  });

  test('GET responses are cached through the response cache (hit, Age, 304)', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"v1"', 'content-type': 'text/plain' });
      res.end('cached body');
    });
    try {
      await withProxy({ upstreamUrl: up.url, cache: mapCache() }, {}, async (proxy) => {
        const a = await proxy.fetch(new Request(`${GW}/api/c`, { headers: { host: 'h.test' } }));
        assert.equal(await a.text(), 'cached body');
        await waitFor(() => proxy.stats().cache?.stored === 1, 'the entry stored');
        const b = await proxy.fetch(new Request(`${GW}/api/c`, { headers: { host: 'h.test' } }));
        assert.equal(await b.text(), 'cached body');
        assert.equal(b.headers.get('age'), '0');
        const c = await proxy.fetch(new Request(`${GW}/api/c`, { headers: { host: 'h.test', 'if-none-match': '"v1"' } }));
        assert.equal(c.status, 304);
        assert.equal(up.received.length, 1);
        assert.equal(proxy.stats().cache?.hits, 2);
      });
    } finally {
      await up.close();
    }
  });

  test('a non-error answer to an unsafe method drops the stored copy of its URL', async () => {
    const up = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(Number(req.headers['x-status'] ?? 200), { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
      res.end(`v${up.received.length}`);
    });
    try {
      await withProxy({ upstreamUrl: up.url, cache: mapCache() }, {}, async (proxy) => {
        const get = () => proxy.fetch(new Request(`${GW}/api/item`, { headers: { host: 'h.test' } }));
        await (await get()).text();
        await waitFor(() => proxy.stats().cache?.stored === 1, 'the entry stored');
        assert.equal((await get()).headers.get('x-cache'), 'HIT');
        const failed = await proxy.fetch(
          new Request(`${GW}/api/item`, { method: 'PUT', body: 'x', headers: { host: 'h.test', 'x-status': '409' } }),
        );
        await failed.text();
        assert.equal((await get()).headers.get('x-cache'), 'HIT', 'an error answer leaves the copy');
        const put = await proxy.fetch(new Request(`${GW}/api/item`, { method: 'PUT', body: 'x', headers: { host: 'h.test' } }));
        await put.text();
        const after = await get();
        assert.equal(after.headers.get('x-cache'), 'MISS', 'a successful PUT dropped the copy');
      });
    } finally {
      await up.close();
    }
  });

  test('a cached 204 is served again without a body (a Web Response cannot carry one)', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(204, { 'cache-control': 'public, max-age=60' });
      res.end();
    });
    try {
      await withProxy({ upstreamUrl: up.url, cache: mapCache() }, {}, async (proxy) => {
        const first = await proxy.fetch(new Request(`${GW}/api/empty`, { headers: { host: 'h.test' } }));
        assert.equal(first.status, 204);
        await waitFor(() => proxy.stats().cache?.stored === 1, 'the 204 stored');
        for (const method of ['GET', 'HEAD']) {
          const hit = await proxy.fetch(new Request(`${GW}/api/empty`, { method, headers: { host: 'h.test' } }));
          assert.equal(hit.status, 204, method);
          assert.equal(hit.body, null, method);
          assert.equal(hit.headers.get('x-cache'), 'HIT', method);
        }
        assert.equal(up.received.length, 1);
      });
    } finally {
      await up.close();
    }
  });

  test('a body already read or held by a reader → 500 HEADROOM_BODY_CONSUMED, no upstream call, no slot kept', async () => {
    const up = await startUpstream((req, res) => {
      req.resume();
      res.end('ok');
    });
    try {
      await withProxy({ upstreamUrl: up.url }, { maxConcurrent: 1, queueSize: 0 }, async (proxy) => {
        const read = new Request(`${GW}/api/u`, { method: 'POST', body: 'abc', headers: { host: 'h.test' } });
        await read.text();
        const held = new Request(`${GW}/api/u`, { method: 'POST', body: 'abc', headers: { host: 'h.test' } });
        held.body!.getReader();
        for (const request of [read, held]) {
          const r = await proxy.fetch(request);
          assert.equal(r.status, 500);
          assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'HEADROOM_BODY_CONSUMED');
        }
        assert.equal(up.received.length, 0);
        const ok = await proxy.fetch(new Request(`${GW}/api/u`, { method: 'POST', body: 'abc', headers: { host: 'h.test' } }));
        assert.equal(ok.status, 200, 'the one slot is free');
        assert.equal(await ok.text(), 'ok');
      });
    } finally {
      await up.close();
    }
  });

  test('critical pressure sheds an in-flight web response', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(4096));
    });
    const admission = createAdmission({ maxConcurrent: 4, memoryThresholdPercent: 99 });
    const proxy = createProxy({ upstreamUrl: up.url, admission });
    try {
      const r = await proxy.fetch(new Request(`${GW}/api/x`));
      const reader = r.body!.getReader();
      await reader.read();
      assert.equal(admission.shed(1), 1);
      await assert.rejects(reader.read());
      await waitFor(() => proxy.stats().inFlight === 0, 'the shed slot released');
      assert.equal(proxy.stats().errors.shed, 1);
    } finally {
      await admission.close();
      await proxy.close();
      await up.close();
    }
  });

  test('a proxy used through fetch leaves no handle behind after close()', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    try {
      await assertNoLeakedHandles(async () => {
        const proxy = createProxy({ upstreamUrl: up.url });
        assert.equal(await (await proxy.fetch(new Request(`${GW}/api/x`))).text(), 'ok');
        await proxy.close();
        await proxy.close();
      });
    } finally {
      await up.close();
    }
  });
});
