// Response caching through the real createCache (L1 only) — the RFC 9111 subset of issue 4.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createCache } from '../../src/cache/index.js';
import type { MemoryStatus, PressureSource } from '../../src/monitor/types.js';
import { waitFor } from '../helpers/wait.js';
import { mapCache, request, startGateway, startUpstream, type Gateway, type Upstream } from './helpers.js';

async function setup(
  options: { maxBufferSize?: number; monitor?: PressureSource } = {},
): Promise<{ up: Upstream; gw: Gateway; close: () => Promise<void> }> {
  const up = await startUpstream((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const cc = u.searchParams.get('cc');
    const headers: Record<string, string> = { 'content-type': 'text/plain', etag: '"v1"' };
    if (cc) headers['cache-control'] = cc;
    if (u.searchParams.has('vary')) headers.vary = 'accept-language';
    const age = u.searchParams.get('age');
    if (age !== null) headers.age = age;
    if (u.pathname === '/closing') {
      // HTTP/1.0-style body (no Content-Length, not chunked), then a reset: the end cannot be told from a close.
      req.socket.write(`HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\npartial`);
      setImmediate(() => req.socket.resetAndDestroy());
      return;
    }
    if (u.pathname === '/big') {
      res.writeHead(200, headers);
      for (let i = 0; i < 5; i++) res.write(Buffer.alloc(1000, 98));
      res.end();
      return;
    }
    res.writeHead(Number(req.headers['x-status'] ?? 200), headers);
    res.end(`body ${req.headers['accept-language'] ?? ''} #${up.received.length}`);
  });
  const cache = createCache({});
  const gw = await startGateway({
    upstreamUrl: up.url,
    cache,
    maxBufferSize: options.maxBufferSize ?? 1024 * 1024,
    monitor: options.monitor,
  });
  return {
    up,
    gw,
    close: async () => {
      await gw.close();
      await cache.close();
      await up.close();
    },
  };
}

describe('proxy response cache', () => {
  test('shareable GET is stored while streaming, then served with Age; ETag → 304; HEAD from cache', async () => {
    const { up, gw, close } = await setup();
    try {
      const a = await request(`${gw.url}/api/c?cc=max-age=60`);
      const b = await request(`${gw.url}/api/c?cc=max-age=60`);
      assert.equal(up.received.length, 1);
      assert.equal(b.body.toString(), a.body.toString());
      assert.equal(a.headers.age, undefined);
      assert.match(String(b.headers.age), /^\d+$/);
      assert.equal(b.headers.etag, '"v1"');
      const nm = await request(`${gw.url}/api/c?cc=max-age=60`, { headers: { 'if-none-match': 'W/"v1"' } });
      assert.equal(nm.status, 304);
      assert.equal(nm.body.length, 0);
      assert.equal(nm.headers.etag, '"v1"');
      const head = await request(`${gw.url}/api/c?cc=max-age=60`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      const fresh = await request(`${gw.url}/api/c?cc=max-age=60`, { headers: { 'cache-control': 'no-cache' } });
      assert.equal(fresh.status, 200);
      assert.equal(up.received.length, 2, 'no-cache on the request goes upstream');
      const s = gw.proxy.stats().cache!;
      assert.equal(s.notModified, 1);
      assert.ok(s.hits >= 3);
    } finally {
      await close();
    }
  });

  test('private, no-store and Authorization (without public) are not stored; public with Authorization is', async () => {
    const { up, gw, close } = await setup();
    try {
      for (const cc of ['private, max-age=60', 'no-store', 'no-cache, max-age=60']) {
        await request(`${gw.url}/api/p?cc=${encodeURIComponent(cc)}`);
        await request(`${gw.url}/api/p?cc=${encodeURIComponent(cc)}`);
      }
      assert.equal(up.received.length, 6);
      assert.ok(gw.proxy.stats().cache!.skippedUncacheable >= 3, 'URLs known to be uncacheable skip the cache lookup');
      const auth = { authorization: 'Bearer u1' };
      await request(`${gw.url}/api/a?cc=max-age=60`, { headers: auth });
      await request(`${gw.url}/api/a?cc=max-age=60`, { headers: auth });
      assert.equal(up.received.length, 8);
      await request(`${gw.url}/api/a?cc=public,max-age=60`, { headers: auth });
      await request(`${gw.url}/api/a?cc=public,max-age=60`, { headers: auth });
      assert.equal(up.received.length, 9);
    } finally {
      await close();
    }
  });

  test('Age and max-age are delta-seconds: an invalid Age is ignored, a max-age past 2^31 s counts as 2^31', async () => {
    const { up, gw, close } = await setup();
    try {
      const twice = async (query: string): Promise<{ upstream: number; age: unknown }> => {
        const from = up.received.length;
        await request(`${gw.url}/api/age?${query}`);
        const second = await request(`${gw.url}/api/age?${query}`);
        return { upstream: up.received.length - from, age: second.headers.age };
      };
      // max-age=0 with Age: -5 is stale on arrival, not fresh for 5 s.
      assert.equal((await twice(`cc=max-age%3D0&age=-5`)).upstream, 2);
      for (const age of ['-100000', 'abc', '1.5']) {
        const r = await twice(`cc=max-age%3D60&age=${age}`);
        assert.equal(r.upstream, 1, `Age: ${age}`);
        assert.match(String(r.age), /^\d+$/, `the hit's Age is delta-seconds (upstream sent ${age})`);
        assert.ok(Number(r.age) <= 60, `Age: ${age} → ${String(r.age)}`);
      }
      // A max-age of a thousand years is cached (for the longest the cache keeps), not refused silently.
      assert.equal((await twice(`cc=max-age%3D99999999999`)).upstream, 1);
    } finally {
      await close();
    }
  });

  test('a body that ends when the upstream closes (no length, not chunked) is relayed the same way and never cached', async () => {
    const { up, gw, close } = await setup();
    try {
      for (let i = 1; i <= 2; i++) {
        const r = await request(`${gw.url}/api/closing`);
        assert.equal(r.status, 200);
        assert.equal(r.headers['transfer-encoding'], undefined, 'no chunked end marker vouching for a body undici could not');
        assert.equal(r.headers.connection, 'close');
        assert.equal(up.received.length, i, `request ${i} went upstream: a possibly truncated body is not stored`);
      }
    } finally {
      await close();
    }
  });

  test('a non-error answer to an unsafe method drops the stored copy of its URL; an error or a safe method does not', async () => {
    const { up, gw, close } = await setup();
    try {
      const url = `${gw.url}/api/item?cc=max-age%3D60`;
      const cached = async (): Promise<boolean> => (await request(url)).headers['x-cache'] === 'HIT';
      await request(url);
      assert.equal(await cached(), true);
      for (const [method, status] of [
        ['POST', '404'],
        ['OPTIONS', '200'],
        ['DELETE', '500'],
      ] as const) {
        assert.equal((await request(url, { method, headers: { 'x-status': status } })).status, Number(status));
        assert.equal(await cached(), true, `${method} answered ${status}: the copy stays`);
      }
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        assert.equal((await request(url, { method, headers: { 'x-status': '204' } })).status, 204);
        const from = up.received.length;
        assert.equal(await cached(), false, `after ${method} 204 the next GET goes upstream`);
        assert.equal(up.received.length, from + 1);
        assert.equal(await cached(), true, 'and is stored again');
      }
    } finally {
      await close();
    }
  });

  test('Vary is honoured', async () => {
    const { up, gw, close } = await setup();
    try {
      const en1 = await request(`${gw.url}/api/v?vary=1&cc=max-age=60`, { headers: { 'accept-language': 'en' } });
      const en2 = await request(`${gw.url}/api/v?vary=1&cc=max-age=60`, { headers: { 'accept-language': 'en' } });
      assert.equal(en1.body.toString(), en2.body.toString());
      const fr = await request(`${gw.url}/api/v?vary=1&cc=max-age=60`, { headers: { 'accept-language': 'fr' } });
      assert.match(fr.body.toString(), /^body fr/);
      assert.equal(up.received.length, 2);
    } finally {
      await close();
    }
  });

  test('the tee is abandoned past MAX_BUFFER_SIZE; writes are skipped under memory pressure', async () => {
    let level: MemoryStatus = 'healthy';
    const monitor: PressureSource = { status: () => level, onPressure: () => () => {} };
    const { up, gw, close } = await setup({ maxBufferSize: 2000, monitor });
    try {
      const a = await request(`${gw.url}/api/big?cc=max-age=60`);
      assert.equal(a.body.length, 5000, 'the client still gets the whole body');
      await request(`${gw.url}/api/big?cc=max-age=60`);
      assert.equal(up.received.length, 2);
      assert.equal(gw.proxy.stats().cache!.abandoned, 2);
      level = 'warning';
      await request(`${gw.url}/api/w?cc=max-age=60`);
      await request(`${gw.url}/api/w?cc=max-age=60`);
      assert.equal(up.received.length, 4);
      assert.equal(gw.proxy.stats().cache!.skippedPressure, 2);
    } finally {
      await close();
    }
  });

  test('a client that leaves during a slow cache lookup costs no upstream request', async () => {
    let lookupStarted!: () => void;
    const started = new Promise<void>((r) => (lookupStarted = r));
    let finishLookup!: () => void;
    const gate = new Promise<void>((r) => (finishLookup = r));
    const cache = mapCache();
    const get = cache.get;
    cache.get = async <T>(key: string): Promise<T | undefined> => {
      lookupStarted();
      await gate; // a slow L2 (disk, Redis)
      return get<T>(key);
    };
    const up = await startUpstream((_req, res) => res.end('x'));
    const gw = await startGateway({ upstreamUrl: up.url, cache });
    try {
      const req = http.get(`${gw.url}/api/slow-lookup`, { agent: false });
      req.on('error', () => {});
      await started;
      req.destroy();
      const server = gw.app.server;
      await waitFor(() => new Promise<boolean>((r) => server.getConnections((_e, n) => r(n === 0))), 'the gateway to see the client leave');
      finishLookup();
      await waitFor(() => gw.proxy.stats().errors.clientAbort === 1, 'the abort to be counted');
      assert.equal(up.received.length, 0);
      assert.equal(gw.proxy.stats().inFlight, 0);
    } finally {
      finishLookup();
      await gw.close();
      await up.close();
    }
  });
});
