// Response caching through the real createCache (L1 only) — the RFC 9111 subset of issue 4.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCache } from '../../src/cache/index.js';
import type { Cache } from '../../src/cache/types.js';
import type { MemoryStatus, PressureSource } from '../../src/monitor/types.js';
import { MAX_GET_BYTES } from '../../src/cache/stores/types.js';
import { createResponseCache } from '../../src/proxy/cache-tee.js';
import { createProxy } from '../../src/proxy/proxy.js';
import { newProxyNote } from '../../src/proxy/note.js';
import { listenLocal } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { mapCache, request, startGateway, startUpstream, within, type Gateway, type Upstream } from './helpers.js';

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

  test('a GET with a body or a method override is neither answered from the cache nor stored (a fat GET cannot poison the plain one)', async () => {
    const { up, gw, close } = await setup();
    try {
      const fat = await request(`${gw.url}/api/f?cc=max-age=60`, {
        headers: { 'content-type': 'text/plain', 'content-length': '7' },
        body: 'as POST',
      });
      assert.equal(fat.headers['cache-status'], 'headroom; fwd=request');
      const override = await request(`${gw.url}/api/f?cc=max-age=60`, { headers: { 'x-http-method-override': 'DELETE' } });
      assert.equal(override.headers['cache-status'], 'headroom; fwd=request');
      const plain = await request(`${gw.url}/api/f?cc=max-age=60`);
      assert.equal(plain.headers['cache-status'], 'headroom; fwd=miss', 'neither was stored');
      assert.equal(up.received.length, 3);
      const again = await request(`${gw.url}/api/f?cc=max-age=60`, { headers: { 'x-http-method-override': 'DELETE' } });
      assert.equal(again.headers['cache-status'], 'headroom; fwd=request', 'not answered with the stored plain GET');
      assert.equal(up.received.length, 4);
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

  test('all copies under way share a budget of 2 × MAX_BUFFER_SIZE; under memory pressure running copies are dropped; every byte goes back', () => {
    let level: MemoryStatus = 'healthy';
    let collected = 0;
    const rc = createResponseCache({
      cache: mapCache(),
      maxBufferSize: 1000,
      cacheAuthorized: false,
      canWrite: () => level === 'healthy',
      collect: () => collected++,
    });
    const facts = { status: 200, cacheControl: 'max-age=60', vary: undefined, setCookie: false, age: 0 };
    const tees = Array.from({ length: 3 }, (_, i) => rc.begin(`proxy:${i}`, facts, -1, false, undefined)!.tee);
    for (const t of tees) t.push(Buffer.alloc(900));
    assert.deepEqual(
      tees.map((t) => t.abandoned),
      [false, false, true],
      'the third would pass 2 000 bytes',
    );
    assert.equal(rc.stats().copyingBytes, 1800);
    tees[0]!.release();
    assert.equal(rc.stats().copyingBytes, 900);
    level = 'warning';
    tees[1]!.push(Buffer.alloc(10));
    assert.equal(tees[1]!.abandoned, true, 'dropped at its next chunk once memory is not healthy');
    assert.equal(rc.stats().copyingBytes, 0);
    assert.equal(collected, 0);
    for (const t of tees) t.release();
    assert.equal(rc.stats().copyingBytes, 0);
    assert.equal(collected, 0, '1 800 bytes given back, under one budget (2 000)');
    level = 'healthy';
    const more = rc.begin('proxy:m', facts, -1, false, undefined)!.tee;
    more.push(Buffer.alloc(500));
    more.release();
    assert.equal(collected, 1, 'a budget of dead copies: one full GC');
    for (const n of [900, 900, 500]) {
      const again = rc.begin('proxy:a', facts, -1, false, undefined)!.tee;
      again.push(Buffer.alloc(n));
      again.release();
    }
    assert.equal(collected, 1, 'a second budget of dead copies (2 300) within COLLECT_INTERVAL: no second full GC');
    // A copy cut for room says nothing of its URL: the next response is looked up and copied again.
    rc.store('proxy:2', tees[2]!, 60, 200, [], facts, { headers: {} });
    assert.equal(rc.skip('proxy:2', undefined), undefined);
    assert.equal(rc.stats().abandoned, 0);
    const huge = rc.begin('proxy:h', facts, -1, false, undefined)!.tee;
    huge.push(Buffer.alloc(1001));
    rc.store('proxy:h', huge, 60, 200, [], facts, { headers: {} });
    assert.equal(rc.skip('proxy:h', undefined), 'uncacheable', 'one past MAX_BUFFER_SIZE is');
    assert.equal(rc.stats().abandoned, 1);
  });

  test('a stored copy keeps its share of the budget until the cache has written it (a slow disk cannot pile up entries)', async () => {
    const writes: (() => void)[] = [];
    const slow = mapCache();
    const set = slow.set.bind(slow);
    // A store whose writes finish only when the test says so (a disk slower than the network).
    slow.set = (key, value, options) => new Promise<void>((resolve) => writes.push(() => void set(key, value, options).then(resolve)));
    const rc = createResponseCache({ cache: slow, maxBufferSize: 1000, cacheAuthorized: false, canWrite: () => true });
    const facts = { status: 200, cacheControl: 'max-age=60', vary: undefined, setCookie: false, age: 0 };
    const copy = (key: string) => {
      const tee = rc.begin(key, facts, -1, false, undefined)!.tee;
      tee.push(Buffer.alloc(900));
      return tee;
    };
    for (const key of ['proxy:a', 'proxy:b']) {
      const tee = copy(key);
      rc.store(key, tee, 60, 200, [], facts, { headers: {} });
      tee.release(); // the exchange ended: the entry is still being written
    }
    assert.equal(rc.stats().copyingBytes, 1800, 'both entries are still held by their writes');
    assert.equal(copy('proxy:c').abandoned, true, 'no room for a third copy meanwhile');
    writes.shift()!();
    await waitFor(() => rc.stats().copyingBytes === 900, 'the first write to give its bytes back');
    const d = copy('proxy:d');
    assert.equal(d.abandoned, false, 'room again');
    d.release();
    writes.shift()!();
    await waitFor(() => rc.stats().copyingBytes === 0, 'every byte back');
    // A cache that throws instead of rejecting does not keep the bytes for good.
    slow.set = () => {
      throw new Error('broken store');
    };
    const e = copy('proxy:e');
    rc.store('proxy:e', e, 60, 200, [], facts, { headers: {} });
    e.release();
    await waitFor(() => rc.stats().copyingBytes === 0, 'the bytes back after a throwing set()');
  });

  test("the upstream's X-Request-Id (one line or two) does not shift what is stored: no MISS comes back on a hit", async () => {
    const up = await startUpstream((req, res) => {
      const ids = req.url!.includes('two') ? ['up-1', 'up-2'] : ['up-1'];
      res.writeHead(200, { 'cache-control': 'max-age=60', 'x-request-id': ids, 'content-type': 'text/plain' });
      res.end('body');
    });
    const proxy = createProxy({ upstreamUrl: up.url, cache: mapCache() });
    let n = 0;
    const server = await listenLocal(http.createServer((req, res) => proxy.handle(req, res, newProxyNote(`rid-${++n}`))));
    try {
      for (const path of ['/api/one', '/api/two']) {
        const miss = await request(`${server.url}${path}`);
        assert.equal(miss.headers['cache-status'], 'headroom; fwd=miss', path);
        assert.equal(miss.headers['x-request-id'], `rid-${n}`, `${path}: ours replaces the upstream's`);
        const hit = await request(`${server.url}${path}`);
        assert.equal(hit.body.toString(), 'body');
        assert.equal(hit.headers['cache-status'], 'headroom; hit', `${path}: only the hit's Cache-Status`);
        assert.equal(hit.headers['x-cache'], 'HIT', `${path}: only the hit's X-Cache`);
        assert.equal(hit.headers['x-request-id'], `rid-${n}`, path);
      }
      assert.equal(up.received.length, 2);
    } finally {
      await proxy.close();
      await server.close();
      await up.close();
    }
  });

  test('a stored 404 or 410 is answered as stored to a matching If-None-Match (also *), never 304', async () => {
    const { up, gw, close } = await setup();
    try {
      for (const status of ['404', '410']) {
        const url = `${gw.url}/api/gone${status}?cc=max-age=60`;
        const first = await request(url, { headers: { 'x-status': status } });
        assert.equal(first.status, Number(status));
        for (const inm of ['"v1"', '*']) {
          const r = await request(url, { headers: { 'if-none-match': inm } });
          assert.equal(r.status, Number(status), `${status} with If-None-Match: ${inm}`);
          assert.equal(r.headers['x-cache'], 'HIT');
          assert.equal(r.body.toString(), first.body.toString());
        }
      }
      assert.equal(up.received.length, 2);
      assert.equal(gw.proxy.stats().cache!.notModified, 0);
    } finally {
      await close();
    }
  });

  test('PROXY_TRUST_FORWARDED: an X-Forwarded-Host carrying a path cannot poison another path', async () => {
    const up = await startUpstream((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
      res.end(`page ${req.url} for ${String(req.headers['x-forwarded-host'])}`);
    });
    const gw = await startGateway({ upstreamUrl: up.url, cache: mapCache(), trustForwarded: true });
    try {
      const forged = await request(`${gw.url}/api/cbar`, { headers: { host: 'shop.example', 'x-forwarded-host': 'shop.example/cfoo' } });
      assert.equal(forged.body.toString(), 'page /cbar for shop.example', 'the forwarded host is not believed');
      const victim = await request(`${gw.url}/api/cfoo/cbar`, { headers: { host: 'shop.example' } });
      assert.equal(victim.body.toString(), 'page /cfoo/cbar for shop.example');
      assert.equal(victim.headers['x-cache'], 'MISS');
      assert.equal(up.received.length, 2);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('a hit whose client stops reading is closed after CLIENT_READ_TIMEOUT without progress; a slow, steady reader gets it whole', async () => {
    // Well past what loopback sockets absorb for a client that never reads (~4 MiB), so the rest waits in the gateway.
    const size = 8 * 1024 ** 2;
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': size });
      res.end(Buffer.alloc(size, 0x61));
    });
    const gw = await startGateway({ upstreamUrl: up.url, cache: mapCache(), maxBufferSize: 2 * size, clientReadTimeout: 500 });
    const connections = (): Promise<number> => new Promise((r) => gw.app.server.getConnections((_e, n) => r(n)));
    try {
      assert.equal((await request(`${gw.url}/api/huge`)).body.length, size, 'stored');
      await waitFor(async () => (await connections()) === 0, 'the first client to leave');
      const { host, port } = new URL(gw.url);
      const stalled = net.connect(Number(port), '127.0.0.1', () => stalled.write(`GET /api/huge HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
      stalled.on('error', () => {});
      stalled.pause(); // never reads
      try {
        await waitFor(() => gw.proxy.stats().cache!.hits === 1, 'the stalled request to hit');
        await waitFor(async () => (await connections()) === 0, 'the gateway to close the stalled hit', 5_000);
      } finally {
        stalled.destroy();
      }
      // A 20 ms pause after every read: progress all the time, but the whole body takes several
      // CLIENT_READ_TIMEOUTs (written as one, it would count as progress only once written whole).
      const reader = net.connect(Number(port), '127.0.0.1', () =>
        reader.write(`GET /api/huge HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
      );
      let body = -1; // bytes after the response head (which comes whole in the first read)
      reader.on('data', (c: Buffer) => {
        body = body < 0 ? c.length - c.indexOf('\r\n\r\n') - 4 : body + c.length;
        reader.pause();
        setTimeout(() => reader.resume(), 20);
      });
      await within(new Promise((r) => reader.once('close', r)), 20_000, 'the slow reader');
      assert.equal(body, size, 'the whole body');
      assert.equal(up.received.length, 1);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('the tee never copies more than the cache gives back whole (its maxValueBytes, 64 MiB when not said), whatever MAX_BUFFER_SIZE says', async () => {
    const facts = { status: 200, cacheControl: 'max-age=60', vary: undefined, setCookie: false, age: 0 };
    const limit = (cache: Cache, maxBufferSize = 1024 ** 3) =>
      createResponseCache({ cache, maxBufferSize, cacheAuthorized: false, canWrite: () => true }).begin(
        'proxy:a',
        facts,
        -1,
        false,
        undefined,
      )!.tee.max;
    const unsaid = createResponseCache({ cache: mapCache(), maxBufferSize: 1024 ** 3, cacheAuthorized: false, canWrite: () => true });
    assert.equal(unsaid.begin('proxy:a', facts, MAX_GET_BYTES + 1, false, undefined), undefined, 'a declared length above it: no tee');
    assert.ok(limit(mapCache()) <= MAX_GET_BYTES && limit(mapCache()) > MAX_GET_BYTES - 1024 ** 2, 'an unknown length: abandoned past it');
    assert.equal(limit(mapCache(), 1000), 1000);
    // An L1-only cache keeps nothing above l1.maxEntryBytes; a disk gives back up to maxGetBytes.
    const memoryOnly = createCache({ l1: { maxEntryBytes: 2 * 1024 ** 2 } });
    const dir = mkdtempSync(join(tmpdir(), 'headroom-tee-'));
    const disk = createCache({ disk: { dir, maxGetBytes: 4 * 1024 ** 2 } });
    try {
      assert.ok(limit(memoryOnly) <= 2 * 1024 ** 2 && limit(memoryOnly) > 1024 ** 2, String(limit(memoryOnly)));
      assert.ok(limit(disk) <= 4 * 1024 ** 2 && limit(disk) > 3 * 1024 ** 2, String(limit(disk)));
    } finally {
      await memoryOnly.close();
      await disk.close();
      rmSync(dir, { recursive: true, force: true });
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
