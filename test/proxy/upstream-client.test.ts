import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createUpstreamClient } from '../../src/proxy/upstream-client.js';
import { HeadroomError } from '../../src/errors.js';
import type { MemoryStatus } from '../../src/monitor/types.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { setImmediate as tick } from 'node:timers/promises';
import { heldUpstream, mapCache, startUpstream, within } from './helpers.js';

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof HeadroomError ? err.code : String(err);
  }
};

describe('createUpstreamClient', () => {
  test('json(): token, query, caching through the Cache, in-flight de-duplication, writes skipped under pressure', async () => {
    const up = await startUpstream((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, auth: req.headers.authorization }));
    });
    const cache = mapCache();
    let level: MemoryStatus = 'healthy';
    const client = createUpstreamClient({
      baseUrl: `${up.url}/v1`,
      token: 't0k',
      cache,
      monitor: { status: () => level, onPressure: () => () => {} },
    });
    try {
      const [a, b] = await Promise.all([
        client.json<{ url: string; auth: string }>('/items', { query: { page: 2 } }),
        client.json('/items', { query: { page: 2 } }),
      ]);
      assert.deepEqual(a, { url: '/v1/items?page=2', auth: 'Bearer t0k' });
      assert.deepEqual(b, a);
      assert.equal(up.received.length, 1);
      assert.deepEqual(await client.json('/items', { query: { page: 2 } }), a);
      assert.equal(up.received.length, 1, 'served from the cache');
      level = 'warning';
      await client.json('/other');
      assert.equal(cache.map.has('upstream:/v1/other'), false);
      const s = client.stats();
      assert.equal(s.deduplicated, 1);
      assert.equal(s.cacheHits, 1);
      assert.equal(s.cacheWritesSkipped, 1);
      const posted = await client.json<{ url: string }>('/items', { method: 'POST', body: { a: 1 } });
      assert.equal(posted.url, '/v1/items');
    } finally {
      await client.close();
      await up.close();
    }
  });

  test('byte limit aborts while reading; timeout; non-2xx; stream()', async () => {
    const up = await startUpstream((req, res) => {
      if (req.url === '/huge') {
        res.writeHead(200);
        const t = setInterval(() => res.write(Buffer.alloc(64 * 1024, 32)), 5);
        res.on('close', () => clearInterval(t));
      } else if (req.url === '/stall') {
        // never answers
      } else if (req.url === '/fail') {
        res.writeHead(500);
        res.end('{}');
      } else {
        res.end('streamed');
      }
    });
    const client = createUpstreamClient({ baseUrl: up.url, timeout: 300, maxBodyBytes: 256 * 1024 });
    try {
      assert.equal(await within(code(client.json('/huge')), 5_000, 'limit'), 'HEADROOM_BODY_TOO_LARGE');
      await within(up.received[0]!.settled, 3_000, 'upstream abort');
      assert.equal(up.received[0]!.aborted, true);
      assert.equal(await code(client.json('/stall')), 'HEADROOM_UPSTREAM_TIMEOUT');
      assert.equal(await code(client.json('/fail')), 'HEADROOM_UPSTREAM_ERROR');
      const s = await client.stream('/ok');
      assert.equal(s.statusCode, 200);
      let text = '';
      for await (const c of s.body) text += c;
      assert.equal(text, 'streamed');
      assert.equal(client.stats().tooLarge, 1);
    } finally {
      await client.close();
      await up.close();
    }
  });

  test('close() is idempotent and leaves no handle behind', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await startUpstream((_req, res) => res.end('1'));
      const client = createUpstreamClient({ baseUrl: up.url });
      assert.equal(await client.json('/x'), 1);
      await client.close();
      await client.close();
      assert.equal(await code(client.json('/x')), 'HEADROOM_DRAINING');
      await up.close();
    });
  });

  test('close() twice while a request is in flight: one promise, settled only once the request is done', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream('2');
      const client = createUpstreamClient({ baseUrl: up.url });
      const inFlight = client.json('/slow');
      await up.arrived;
      const first = client.close();
      const second = client.close();
      assert.equal(second, first, 'the same in-flight promise');
      let settled = false;
      void second.then(() => (settled = true));
      for (let i = 0; i < 5; i++) await tick();
      assert.equal(settled, false, 'close() must wait for the request in flight');
      up.release();
      assert.equal(await inFlight, 2);
      await second;
      await up.close();
    });
  });
});
