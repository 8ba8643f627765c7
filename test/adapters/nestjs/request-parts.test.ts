// HeadroomModule's `capture` and `accounting` options on real Nest apps (both platforms), through
// real HTTP: every app request (controllers and the proxy; not health, metrics or admin) is captured
// and charged without any wiring by the app, the memory interceptor reports each handler, the
// ledger's context reaches the controllers, the metrics are on /metrics, and bad options stop
// start-up naming the option.
import assert from 'node:assert/strict';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { HeadroomModule, HeadroomService, type RequestMemoryReport } from '../../../src/adapters/nestjs/index.js';
import type { RequestAccounting } from '../../../src/log/accounting.js';
import type { CaptureRecord } from '../../../src/log/capture.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { nestController } from '../capture/apps.js';
import { PLATFORMS, startApp, startUpstream, type Platform } from './app.js';

/** GET /charge holds 5000 bytes on the request's ledger, found through AsyncLocalStorage. */
let accountingOfApp: RequestAccounting | undefined;
function chargeController(): new () => unknown {
  class ChargeController {
    async charge(): Promise<unknown> {
      await new Promise((r) => setImmediate(r)); // across an await: the context still holds
      return { charged: accountingOfApp!.charge(5000) };
    }
  }
  Get('charge')(ChargeController.prototype, 'charge', Object.getOwnPropertyDescriptor(ChargeController.prototype, 'charge')!);
  Controller()(ChargeController);
  return ChargeController;
}

interface Line {
  level: number;
  msg: string;
  path?: string;
  request?: { bytes: number };
}

function lines(): { logger: pino.Logger; warnings: () => Line[]; infos: () => Line[] } {
  const out: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) out.push(JSON.parse(l) as (typeof out)[number]);
      cb();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    warnings: () => out.filter((l) => l.level === 40),
    infos: () => out.filter((l) => l.level === 30),
  };
}

const metric = (scrape: string, series: string): number => {
  const line = scrape.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} in the scrape`);
  return Number(line.slice(series.length + 1));
};

/** Opens GET /hang, waits for its first body bytes, then drops the connection. */
function abortHang(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/hang`, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

const routeOf = (platform: Platform, path: string, handler: string): string => (platform === 'express' ? path : handler);

for (const platform of PLATFORMS) {
  describe(`HeadroomModule capture + accounting on ${platform}`, () => {
    test(
      'app requests are captured and charged, probes are not; the interceptor reports; metrics on /metrics',
      { timeout: 60_000 },
      async () => {
        await assertNoLeakedHandles(async () => {
          const upstream = await startUpstream();
          const records: CaptureRecord[] = [];
          const reports: RequestMemoryReport[] = [];
          const log = lines();
          const t = await startApp(
            platform,
            HeadroomModule.forRoot({
              logger: log.logger,
              proxy: { upstreamUrl: upstream.url },
              capture: { onCapture: (r) => records.push(r) },
              accounting: { warnBytes: '8KiB', onReport: (r) => reports.push(r) },
            }),
            { controllers: [nestController(), chargeController()] },
          );
          const service = t.app.get(HeadroomService);
          accountingOfApp = service.accounting;
          try {
            assert.ok(service.capture && service.accounting);
            // A JSON body through Nest's parser: captured up to 8 KiB each way, charged, reported heavy.
            const body = JSON.stringify({ fill: 'z'.repeat(20_000) });
            const echoed = await fetch(`${t.url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
            assert.equal(await echoed.text(), body);
            await waitFor(() => records.length === 1 && reports.length === 1, 'the echo captured and reported');
            const echo = records[0]!;
            assert.equal(echo.path, '/echo');
            assert.equal(echo.request.contentType, 'application/json');
            assert.equal(echo.request.bytes, body.length);
            assert.equal(echo.request.body, body.slice(0, 8192));
            assert.equal(echo.response.bytes, body.length);
            assert.deepEqual(
              { ...reports[0], ms: 0 },
              { handler: 'CaptureController.echo', ms: 0, peak: 2 * 8192, charged: 2 * 8192, heavy: true },
            );
            await waitFor(() => log.warnings().length === 1, 'the heavy request warned on the module logger');
            assert.match(log.warnings()[0]!.msg, /^CaptureController\.echo held 16384 bytes \(above 8192\)$/);

            // Health, metrics and admin answer in front: neither captured nor accounted.
            assert.equal((await fetch(`${t.url}/health/ready`)).status, 200);
            assert.equal((await fetch(`${t.url}/admin/memory-stats`)).status, 403);

            // A proxied JSON post: the capture saw its type before the body was kept from the parser.
            const proxied = await fetch(`${t.url}/api/orders?x=1`, {
              method: 'POST',
              body: '{"order":1}',
              headers: { 'content-type': 'application/json' },
            });
            assert.equal(proxied.status, 200);
            await proxied.arrayBuffer();
            assert.deepEqual(upstream.seen.at(-1), {
              method: 'POST',
              url: '/orders?x=1',
              body: '{"order":1}',
              contentType: 'application/json',
            });

            // The ledger's context reaches the controller, after an await.
            assert.deepEqual(await (await fetch(`${t.url}/charge`)).json(), { charged: true });
            // An aborted response releases what it held.
            await abortHang(t.url);
            await waitFor(() => records.length === 4 && reports.length === 4, 'proxy, charge and hang captured and reported');
            assert.deepEqual(
              records.map((r) => `${r.method} ${r.path}`),
              ['POST /echo', 'POST /api/orders', 'GET /charge', 'GET /hang'],
            );
            const [, order, charge, hang] = records;
            assert.equal(order!.request.contentType, 'application/json');
            assert.equal(order!.request.body, '{"order":1}');
            assert.equal(hang!.aborted, true);
            const charged = reports.find((r) => r.handler === 'ChargeController.charge')!;
            assert.equal(charged.charged, 5000 + charge!.response.bytes, JSON.stringify(charged));
            assert.equal(charged.heavy, false);
            await waitFor(() => service.accounting!.held() === 0 && service.capture!.stats().held === 0, 'everything released');

            const scrape = await (await fetch(`${t.url}/metrics`)).text();
            assert.equal(metric(scrape, 'headroom_request_bytes_held'), 0);
            const echoRoute = routeOf(platform, '/echo', 'CaptureController.echo');
            assert.equal(metric(scrape, `headroom_requests_accounted_total{route="${echoRoute}"}`), 1);
            assert.equal(metric(scrape, `headroom_request_bytes_peak_max{route="${echoRoute}"}`), 2 * 8192);
            const chargeRoute = routeOf(platform, '/charge', 'ChargeController.charge');
            assert.equal(metric(scrape, `headroom_request_bytes_charged_total{route="${chargeRoute}"}`), charged.charged);
            const routes = service.accounting!.routes();
            assert.equal(
              routes.reduce((n, r) => n + r.requests, 0),
              4,
              `four app requests accounted, no probe: ${JSON.stringify(routes)}`,
            );
            assert.ok(!records.some((r) => r.path.startsWith('/health') || r.path.startsWith('/admin') || r.path === '/metrics'));
          } finally {
            await t.app.close();
            accountingOfApp = undefined;
            await upstream.close();
          }
          assert.equal(service.capture!.stats().active, 0);
        });
      },
    );
  });
}

describe('HeadroomModule capture + accounting options', () => {
  test('forRootAsync: the factory turns them on (true: the module logger), memoryInterceptor beside it', { timeout: 30_000 }, async () => {
    await assertNoLeakedHandles(async () => {
      const log = lines();
      const logger = log.logger;
      const t = await startApp(
        'fastify',
        HeadroomModule.forRootAsync({
          useFactory: () => ({ logger, capture: true, accounting: { warnBytes: '1KiB' } }),
          memoryInterceptor: true,
        }),
        { controllers: [nestController()] },
      );
      try {
        const body = JSON.stringify({ x: 'y'.repeat(3000) });
        assert.equal(
          await (await fetch(`${t.url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).text(),
          body,
        );
        const captured = (): Line[] => log.infos().filter((l) => l.path === '/echo');
        await waitFor(() => captured().length === 1 && log.warnings().length === 1, 'captured to the logger; heavy warned');
        assert.match(captured()[0]!.msg, /^POST \/echo 201 /);
        assert.equal(captured()[0]!.request!.bytes, body.length);
        assert.match(log.warnings()[0]!.msg, /^CaptureController\.echo held 6\d{3} bytes \(above 1024\)$/);
      } finally {
        await t.app.close();
      }
    });
  });

  const refused = async (module: ReturnType<typeof HeadroomModule.forRoot>, message: RegExp): Promise<void> => {
    class M {}
    Module({ imports: [module] })(M);
    await assert.rejects(NestFactory.create(M, { logger: false, abortOnError: false }), (err: Error) => {
      assert.match(err.message, message);
      assert.equal((err as { code?: string }).code, 'HEADROOM_CONFIG_INVALID');
      return true;
    });
  };

  test('bad capture or accounting options stop start-up naming the option and what is accepted', async () => {
    await assertNoLeakedHandles(async () => {
      await refused(
        HeadroomModule.forRoot({ capture: 'yes' as never }),
        /HeadroomModule: capture="yes" is not accepted: must be true, false or createBodyCapture's options/,
      );
      await refused(
        HeadroomModule.forRoot({ capture: true }),
        /HeadroomModule: capture needs somewhere to log each request: set the module's `logger` \(a pino logger\), capture\.logger or capture\.onCapture/,
      );
      await refused(
        HeadroomModule.forRoot({ capture: { onCapture: () => {}, logger: pino({ enabled: false }) } }),
        /HeadroomModule: give capture\.logger or capture\.onCapture, not both/,
      );
      await refused(
        HeadroomModule.forRoot({ capture: { onCapture: () => {}, maxBytes: 'lots' } }),
        /HeadroomModule: capture\.maxBytes="lots": must be a byte size/,
      );
      await refused(
        HeadroomModule.forRoot({ accounting: 3 as never }),
        /HeadroomModule: accounting=3 is not accepted: must be true, false or/,
      );
      await refused(HeadroomModule.forRoot({ accounting: { warnBytes: 5 } }), /HeadroomModule: accounting\.warnBytes=5: /);
      await refused(HeadroomModule.forRoot({ accounting: { warnByte: '1MiB' } as never }), /accounting\.warnByte.*warnBytes/);
      await refused(
        HeadroomModule.forRootAsync({ useFactory: () => ({}), memoryInterceptor: true }),
        /forRootAsync: memoryInterceptor: true needs the `accounting` option/,
      );
      assert.throws(
        () => HeadroomModule.forRootAsync({ useFactory: () => ({}), memoryInterceptor: 'yes' as never }),
        /memoryInterceptor=yes is not accepted: must be true or false/,
      );
    });
  });

  test("with the app's own registry, the accounting's metrics leave it at shutdown: the next app on it starts", async () => {
    const registry = new Registry();
    for (let i = 0; i < 2; i++) {
      const { app, url } = await startApp('express', HeadroomModule.forRoot({ registry, accounting: true }));
      try {
        const scrape = await new Promise<string>((resolve, reject) =>
          httpRequest(`${url}/metrics`, (res) => {
            let body = '';
            res
              .setEncoding('utf8')
              .on('data', (c: string) => (body += c))
              .on('end', () => resolve(body));
          })
            .on('error', reject)
            .end(),
        );
        assert.match(scrape, /^headroom_request_bytes_held \d+$/m, `app ${i + 1}`);
      } finally {
        await app.close();
      }
      assert.deepEqual(
        registry
          .getMetricsAsArray()
          .map((m) => m.name)
          .filter((n) => n.startsWith('headroom_')),
        [],
        'nothing of headroom left in the registry',
      );
    }
  });
});
