// The acceptance test of per-route heap attribution, on real Express 5 and Fastify servers: three
// routes under 32 concurrent keep-alive connections — /heavy keeps 1 MiB per request (allocated
// after an await that many requests wait in at once), /light allocates nothing, /garbage allocates
// 1 MiB per request and drops it. The report must rank /heavy first with at least 80 % of the
// growth, see about 1 MiB per /heavy request, and charge the garbage to nobody.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { createRouteHeapAttribution, routeHeapMiddleware } from '../../../src/adapters/express/index.js';
import { attributeRouteHeap } from '../../../src/adapters/fastify/index.js';
import type { RouteHeapAttribution, RouteHeapReport } from '../../../src/log/route-heap.js';
import { listenLocal } from '../../helpers/net.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';

const CONNECTIONS = 32;
const PER_CONNECTION = 12; // 4 rounds of heavy, light, garbage: 128 heavy requests, 128 MiB kept
const MIB = 1024 ** 2;
const ROUTES = ['/heavy', '/light', '/garbage'];

/** 1 MiB of doubles on the V8 heap (a Buffer's bytes would be outside it). */
const mebibyte = (seed: number): number[] => new Array<number>(MIB / 8).fill(seed + 0.5);

/** An await that lets other requests in, counting how many handlers wait in it at once. */
function overlapMeter(): { pause(): Promise<void>; most(): number } {
  let now = 0;
  let most = 0;
  return {
    async pause() {
      most = Math.max(most, ++now);
      await sleep(2); // long enough for the other connections' requests to arrive meanwhile
      now--;
    },
    most: () => most,
  };
}

interface App {
  url: string;
  kept: unknown[];
  /** Most handlers waiting at their await at once: proof the requests overlapped. */
  overlap(): number;
  close(): Promise<void>;
}

async function expressApp(attribution: RouteHeapAttribution): Promise<App> {
  const kept: unknown[] = [];
  const meter = overlapMeter();
  const app = express();
  app.use(routeHeapMiddleware(attribution));
  app.get('/heavy', async (_req, res) => {
    await meter.pause();
    kept.push(mebibyte(kept.length));
    res.end('kept');
  });
  app.get('/light', (_req, res) => void res.end('nothing'));
  app.get('/garbage', async (_req, res) => {
    await meter.pause();
    res.end(String(mebibyte(1).length));
  });
  const local = await listenLocal(app);
  return {
    url: local.url,
    kept,
    overlap: meter.most,
    close: local.close,
  };
}

async function fastifyApp(attribution: RouteHeapAttribution): Promise<App> {
  const kept: unknown[] = [];
  const meter = overlapMeter();
  const app = Fastify();
  await app.register(attributeRouteHeap, { attribution });
  app.get('/heavy', async () => {
    await meter.pause();
    kept.push(mebibyte(kept.length));
    return 'kept';
  });
  app.get('/light', () => 'nothing');
  app.get('/garbage', async () => {
    await meter.pause();
    return String(mebibyte(1).length);
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, kept, overlap: meter.most, close: () => app.close() };
}

/** 32 connections, each running the three routes in turn; every response must be a 200. */
async function drive(url: string): Promise<void> {
  const pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1 });
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, c) => {
        for (let i = 0; i < PER_CONNECTION; i++) {
          const path = ROUTES[(c + i) % ROUTES.length]!;
          const res = await pool.request({ path, method: 'GET' });
          await res.body.text();
          assert.equal(res.statusCode, 200, `${path} answered ${res.statusCode}`);
        }
      }),
    );
  } finally {
    await pool.close();
  }
}

function check(report: RouteHeapReport): string {
  const heavyRequests = (CONNECTIONS * PER_CONNECTION) / ROUTES.length;
  const row = (route: string) => report.routes.find((r) => r.route === route);
  const summary = report.routes.map(
    (r) => `${r.route}: ${(r.bytes / MIB).toFixed(1)} MiB, ${(r.share * 100).toFixed(1)} %, ${r.requests} requests`,
  );
  const what = `${summary.join('; ')}; unattributed ${(report.unattributedBytes / MIB).toFixed(1)} MiB`;
  assert.equal(report.routes[0]?.route, '/heavy', `heavy first: ${what}`);
  assert.ok(report.routes[0].share >= 0.8, `heavy has ≥ 80 % of the growth: ${what}`);
  assert.equal(report.routes[0].requests, heavyRequests);
  // Sampling estimates each 1 MiB array almost exactly (it is 32 times the sampling interval).
  const perRequest = report.routes[0].bytesPerRequest / MIB;
  assert.ok(perRequest > 0.9 && perRequest < 1.1, `about 1 MiB kept per heavy request, got ${perRequest.toFixed(3)} MiB: ${what}`);
  assert.equal(row('/light')?.requests, heavyRequests);
  assert.equal(row('/garbage')?.requests, heavyRequests);
  // The garbage route allocated as much as the heavy one, but nothing of it is alive.
  assert.ok((row('/garbage')?.bytes ?? 0) < 0.01 * report.routes[0].bytes, `garbage is not growth: ${what}`);
  assert.ok((row('/light')?.bytes ?? 0) < 0.01 * report.routes[0].bytes, `light holds next to nothing: ${what}`);
  return what;
}

for (const [name, make] of [
  ['Express', expressApp],
  ['Fastify', fastifyApp],
] as const) {
  test(
    `${name}: under ${CONNECTIONS} concurrent connections the route that keeps 1 MiB a request gets ≥ 80 % of the growth`,
    { timeout: 180_000 },
    async (t) => {
      await assertNoLeakedHandles(async () => {
        const attribution = createRouteHeapAttribution();
        const app = await make(attribution);
        try {
          await drive(app.url);
          const report = await attribution.report();
          t.diagnostic(`${check(report)}; up to ${app.overlap()} requests at once in the handlers' await`);
          assert.ok(app.overlap() >= 2, `the requests overlapped (${app.overlap()} at once)`);
          assert.equal(app.kept.length, (CONNECTIONS * PER_CONNECTION) / ROUTES.length);
        } finally {
          app.kept.length = 0;
          await app.close();
          await attribution.close();
        }
      });
    },
  );
}

test('the adapters refuse something that is not an attribution, naming the factory', async () => {
  assert.throws(
    () => routeHeapMiddleware({} as RouteHeapAttribution),
    /routeHeapMiddleware\(attribution\).*createRouteHeapAttribution\(\)/,
  );
  const app = Fastify();
  await assert.rejects(
    (async () => {
      await app.register(attributeRouteHeap, {} as { attribution: RouteHeapAttribution });
      await app.ready();
    })(),
    (e: Error & { code?: string }) =>
      e.code === 'HEADROOM_CONFIG_INVALID' && /attributeRouteHeap: attribution must be made by createRouteHeapAttribution/.test(e.message),
  );
  await app.close();
});
