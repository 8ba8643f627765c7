// Request memory accounting through the proxy, on real Express 5 and Fastify apps: 32 concurrent
// requests whose cacheable bodies are teed, then 32 slow clients whose bytes queue in the proxy.
// While they run, each request holds what the proxy keeps for it, the per-request charges add up
// to the gauge (sampled every millisecond), and at the end everything is given back.
import assert from 'node:assert/strict';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { accountingMiddleware, createRequestAccounting } from '../../src/adapters/express/index.js';
import { accountRequests } from '../../src/adapters/fastify/index.js';
import type { RequestAccounting } from '../../src/log/accounting.js';
import { createProxy, type Proxy } from '../../src/proxy/proxy.js';
import { proxyRoutes } from '../../src/proxy/fastify.js';
import { WEB_HIGH_WATER_MARK } from '../../src/proxy/web.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { listenFastify, listenLocal } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { mapCache, startUpstream, type Upstream } from './helpers.js';

const N = 32;
const TEE_BODY = 256 * 1024;
const TEE_HEAD = 128 * 1024;
// Well past what loopback sockets absorb for a client that stops reading (~4 MiB here), so the
// rest waits in the proxy.
const SLOW_BODY = 12 * 1024 ** 2;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

interface Stack {
  url: string;
  close(): Promise<void>;
}

async function expressStack(accounting: RequestAccounting, proxy: Proxy): Promise<Stack> {
  const app = express();
  app.use(accountingMiddleware(accounting));
  app.all('/api/*path', (req, res) => proxy.handle(req, res));
  return listenLocal(app);
}

async function fastifyStack(accounting: RequestAccounting, proxy: Proxy): Promise<Stack> {
  const app = Fastify();
  await app.register(accountRequests, { accounting });
  await app.register(proxyRoutes, { proxy });
  return listenFastify(app);
}

/** /tee/i: cacheable, the first half at once and the rest on release(). /slow/i: SLOW_BODY uncacheable bytes, written as the proxy takes them. */
async function upstream(): Promise<Upstream & { release(): void }> {
  const waiting = new Set<() => void>();
  const u = await startUpstream((req, res) => {
    if (req.url!.startsWith('/tee/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TEE_BODY, 'cache-control': 'public, max-age=60' });
      res.write(Buffer.alloc(TEE_HEAD, 0x62));
      const finish = (): void => void res.end(Buffer.alloc(TEE_BODY - TEE_HEAD, 0x63));
      waiting.add(finish);
      res.once('close', () => waiting.delete(finish));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SLOW_BODY, 'cache-control': 'no-store' });
    let sent = 0;
    const pump = (): void => {
      while (sent < SLOW_BODY) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('error', () => {});
    pump();
  });
  return {
    ...u,
    release() {
      for (const f of [...waiting]) {
        waiting.delete(f);
        f();
      }
    },
  };
}

/** Checks, every millisecond while load runs, that the requests' own charges add up to the gauge (within 1 %). */
function sampler(accounting: RequestAccounting) {
  let samples = 0;
  let maxGauge = 0;
  let worst = '';
  const timer = setInterval(() => {
    const gauge = accounting.held();
    const sum = accounting.active().reduce((s, l) => s + l.held, 0);
    samples++;
    maxGauge = Math.max(maxGauge, gauge);
    if (Math.abs(sum - gauge) > gauge * 0.01 && !worst) worst = `sum ${sum} vs gauge ${gauge}`;
  }, 1);
  return {
    clear: () => clearInterval(timer),
    /** Stops sampling; returns the highest gauge seen. */
    stop() {
      clearInterval(timer);
      assert.equal(worst, '', 'per-request charges add up to the gauge within 1 %');
      assert.ok(samples > 10, `sampled during load (${samples})`);
      return maxGauge;
    },
  };
}

interface Client {
  req: ClientRequest;
  res: Promise<IncomingMessage>;
}

function get(url: string): Client {
  const req = http.get(url, { agent: false });
  req.on('error', () => {});
  const res = new Promise<IncomingMessage>((resolve) => req.once('response', resolve));
  return { req, res };
}

async function bodyLength(res: IncomingMessage): Promise<number> {
  let n = 0;
  for await (const c of res) n += (c as Buffer).length;
  return n;
}

for (const [name, start, route] of [
  ['express', expressStack, '/api/*path'],
  ['fastify', fastifyStack, '/api/*'],
] as const) {
  test(
    `${name}: the proxy charges its cache tee and its queued bytes to each request, and gives all back`,
    { timeout: 90_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        const accounting = createRequestAccounting({ warnBytes: '64KiB' });
        const up = await upstream();
        const cache = mapCache();
        const proxy = createProxy({
          upstreamUrl: up.url,
          prefix: '/api',
          cache,
          // 32 copies of 256 KiB at once fit the copies' budget (2 × MAX_BUFFER_SIZE).
          maxBufferSize: 8 * 1024 ** 2,
          limits: { maxConcurrent: 2 * N, queueSize: 0, memoryThresholdPercent: 99 },
        });
        const stack = await start(accounting, proxy);
        const clients: Client[] = [];
        const sample = sampler(accounting);
        try {
          // Cache tee: each request holds at least the half body teed so far.
          for (let i = 0; i < N; i++) clients.push(get(`${stack.url}/api/tee/${i}`));
          const teeBodies = clients.map((c) => c.res.then(bodyLength));
          for (const b of teeBodies) b.catch(() => {}); // a failure below is the one to report, not the hang-ups after it
          await waitFor(
            () => accounting.active().filter((l) => l.held >= TEE_HEAD).length === N,
            `${N} requests each charged ≥ ${TEE_HEAD} teed bytes`,
            20_000,
          );
          assert.equal(
            accounting.held(),
            accounting.active().reduce((s, l) => s + l.held, 0),
          );
          up.release();
          assert.deepEqual(await Promise.all(teeBodies), Array<number>(N).fill(TEE_BODY));
          await waitFor(() => accounting.active().length === 0, 'every teed request ended', 10_000);
          assert.equal(accounting.held(), 0, 'all released when the teed requests ended');
          assert.equal(proxy.stats().cache?.stored, N, 'every tee was stored');
          let r = accounting.routes().find((x) => x.route === route);
          assert.equal(r?.requests, N);
          assert.ok(r.charged >= N * TEE_BODY, `charged ${r.charged} ≥ ${N} × the body`);
          assert.ok(r.maxPeak >= TEE_BODY && r.maxPeak < 2 * TEE_BODY, `peak ${r.maxPeak}: the whole teed body, once`);

          // Slow clients: they stop reading, so bytes wait in the proxy's responses for them.
          clients.length = 0;
          for (let i = 0; i < N; i++) clients.push(get(`${stack.url}/api/slow/${i}`));
          const responses = await Promise.all(clients.map((c) => c.res));
          for (const res of responses) res.pause();
          await waitFor(
            () => accounting.active().filter((l) => l.held > 0).length === N,
            `${N} slow requests each charged their queued bytes`,
            30_000,
          );
          for (const l of accounting.active())
            assert.ok(l.held <= 256 * 1024, `queued ${l.held}: bounded by the high-water mark and a chunk`);
          // Half read to the end; half go away.
          const finished = responses.slice(0, N / 2).map(bodyLength);
          for (const b of finished) b.catch(() => {});
          for (const c of clients.slice(N / 2)) c.req.destroy();
          assert.deepEqual(await Promise.all(finished), Array<number>(N / 2).fill(SLOW_BODY));
          await waitFor(() => accounting.active().length === 0, 'every slow request ended', 10_000);
          assert.equal(accounting.held(), 0, 'all released, read to the end or aborted');
          r = accounting.routes().find((x) => x.route === route)!;
          assert.equal(r.requests, 2 * N);
          const maxGauge = sample.stop();
          assert.ok(maxGauge >= N * TEE_HEAD, `the gauge rose to ${maxGauge} during load`);
        } finally {
          sample.clear();
          for (const c of clients) c.req.destroy();
          await stack.close();
          await proxy.close();
          await up.close();
          await accounting.close();
        }
      });
    },
  );
}

test('proxy.fetch (Web streams) charges the tee and the unread stream queue to the ledger it runs in', { timeout: 60_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const accounting = createRequestAccounting();
    const up = await upstream();
    const proxy = createProxy({ upstreamUrl: up.url, prefix: '/api', cache: mapCache(), maxBufferSize: 1024 ** 2 });
    try {
      // Teed: the half sent so far is held while the rest waits at the upstream.
      const teed = accounting.open();
      const teeResponse = await accounting.run(teed, () => proxy.fetch(new Request('http://gw.test/api/tee/web')));
      const teeBody = teeResponse.arrayBuffer();
      await waitFor(() => teed.held >= TEE_HEAD, 'the teed half charged');
      up.release();
      assert.equal((await teeBody).byteLength, TEE_BODY);
      assert.equal(teed.held, 0, 'released when the exchange ended');
      assert.ok(teed.peak >= TEE_BODY && teed.charged >= TEE_BODY);

      // Unread: the stream's queue fills to its high-water mark and stays charged until read.
      const slow = accounting.open();
      const slowResponse = await accounting.run(slow, () => proxy.fetch(new Request('http://gw.test/api/slow/web')));
      await waitFor(() => slow.held >= WEB_HIGH_WATER_MARK, 'the unread queue charged');
      assert.ok(slow.held <= 2 * WEB_HIGH_WATER_MARK, `held ${slow.held}: the high-water mark and one chunk`);
      assert.equal(accounting.held(), slow.held);
      let n = 0;
      for await (const c of slowResponse.body!) n += c.length;
      assert.equal(n, SLOW_BODY);
      assert.equal(slow.held, 0);
      assert.equal(accounting.held(), 0);
      teed.end('/api/tee');
      slow.end('/api/slow');
    } finally {
      await proxy.close();
      await up.close();
      await accounting.close();
    }
  });
});
