// HeadroomModule: where the proxy is mounted (global prefix), app routes under its mount refused at
// start-up, the admin rate limit per client address, /health/, and handlers that need an option
// failing at start-up. On both platforms.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Controller, Get, Inject, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HeadroomModule, HeadroomService } from '../../../src/adapters/nestjs/index.js';
import { isHeadroomError } from '../../../src/errors.js';
import { request } from '../../helpers/http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import {
  createApp,
  handlerProxyController,
  jsonController,
  PLATFORMS,
  startApp,
  startUpstream,
  type Platform,
  type TestApp,
  type Upstream,
} from './app.js';

const TOKEN = 'nest-admin-token-0123456789';
/** @Controller(path) with GET <route> answering { app: path } (an app route of its own). */
function getController(path: string, route = ''): new () => unknown {
  class GetController {
    get(): unknown {
      return { app: `${path}/${route}` };
    }
  }
  Get(route)(GetController.prototype, 'get', Object.getOwnPropertyDescriptor(GetController.prototype, 'get')!);
  Controller(path)(GetController);
  return GetController;
}

/** Start-up (app.listen) stops with HEADROOM_CONFIG_INVALID, its message matching every pattern. */
async function refusesToStart(
  platform: Platform,
  headroom: DynamicModule,
  controllers: (new () => unknown)[],
  ...messages: RegExp[]
): Promise<void> {
  const app = await createApp(platform, headroom, { controllers });
  try {
    await assert.rejects(
      app.listen(0, '127.0.0.1'),
      (err: unknown) => isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID' && messages.every((m) => m.test(err.message)),
    );
  } finally {
    await app.close();
  }
}

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

for (const platform of PLATFORMS) {
  describe(`nestjs mount on ${platform}`, () => {
    let upstream: Upstream;
    before(async () => {
      upstream = await startUpstream();
    });
    after(() => upstream.close());

    test("setGlobalPrefix('api'): the app's JSON routes keep their bodies, the proxy moves under the prefix and forwards bodies", async () => {
      const t = await startApp(platform, HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url } }), {
        globalPrefix: 'api',
        controllers: [jsonController('things')],
      });
      try {
        const own = await request(`${t.url}/api/app/echo`, json({ n: 1 }));
        assert.equal(own.status, 201, own.text);
        assert.deepEqual(own.json(), { received: { n: 1 } });
        const things = await request(`${t.url}/api/things/items`, json({ a: 2 }));
        assert.deepEqual(things.json(), { created: { a: 2 } });
        const proxied = await request(`${t.url}/api/api/items?v=1`, json({ b: 3 }));
        assert.equal(proxied.status, 200, proxied.text);
        assert.deepEqual(proxied.json(), { method: 'POST', url: '/items?v=1', body: '{"b":3}', contentType: 'application/json' });
        // headroom's own routes are not under the global prefix.
        assert.equal((await request(`${t.url}/health/ready`)).status, 200);
      } finally {
        await t.app.close();
      }
    });

    test('an app route under the proxy mount stops start-up, naming the route and the fix; moving the proxy fixes it', async () => {
      await assertNoLeakedHandles(async () => {
        await refusesToStart(
          platform,
          HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url } }),
          [jsonController('api/items', '')],
          /route POST \/api\/items lies under the proxy's mount \/api/,
          /routes: \{ proxy: '\/upstream' \}/,
        );
        const t = await startApp(
          platform,
          HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url }, routes: { proxy: '/upstream' } }),
          { controllers: [jsonController('api/items', '')] },
        );
        try {
          assert.deepEqual((await request(`${t.url}/api/items`, json({ c: 4 }))).json(), { created: { c: 4 } });
          const proxied = await request(`${t.url}/upstream/x?y=1`, json({ d: 5 }));
          assert.equal(proxied.json().url, '/x?y=1');
          assert.equal(proxied.json().body, '{"d":5}');
        } finally {
          await t.app.close();
        }
      });
    });

    test("the app's own proxy route (proxyHandler({ mount })): JSON and form bodies are forwarded, not parsed; other routes keep theirs", async () => {
      const t = await startApp(platform, HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url } }), {
        globalPrefix: 'v1',
        controllers: [handlerProxyController(platform, 'legacy-api'), jsonController('things')],
      });
      try {
        const proxied = await request(`${t.url}/v1/legacy-api/items?v=1`, json({ b: 3 }));
        assert.equal(proxied.status, 200, proxied.text);
        assert.deepEqual(proxied.json(), { method: 'POST', url: '/items?v=1', body: '{"b":3}', contentType: 'application/json' });
        const form = await request(`${t.url}/v1/legacy-api/form`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'a=1&b=2',
        });
        assert.equal(form.status, 200, form.text);
        assert.equal(form.json().body, 'a=1&b=2');
        assert.deepEqual((await request(`${t.url}/v1/things/items`, json({ a: 2 }))).json(), { created: { a: 2 } });
      } finally {
        await t.app.close();
      }
    });

    test("an app route under a proxyHandler mount stops start-up, naming the route and the handler's mount", async () => {
      await assertNoLeakedHandles(async () => {
        await refusesToStart(
          platform,
          HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url } }),
          [handlerProxyController(platform, 'legacy-api'), jsonController('legacy-api', 'notes')],
          /route POST \/legacy-api\/notes lies under \/legacy-api, where proxyHandler\(\{ mount: '\/legacy-api' \}\) forwards/,
        );
        // A parameter segment takes /legacy-api too: its body would be kept from the parser as well
        // (no proxy controller here, whose own check at /api would name the route first).
        await refusesToStart(
          platform,
          HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url }, routes: { proxy: false } }),
          [jsonController(':section', 'notes'), handlerProxyController(platform, 'legacy-api')],
          /route POST \/:section\/notes lies under \/legacy-api, where proxyHandler/,
        );
      });
    });

    test('a catch-all route of the app under the proxy mount is named once as ALL, not method by method', () =>
      refusesToStart(
        platform,
        HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url } }),
        [handlerProxyController(platform, 'api/legacy', '/api/legacy')],
        /the app's route ALL \/api\/legacy\/\*\w* lies under the proxy's mount \/api\./,
      ));

    test("an app route that headroom's admin, health or metrics path would answer stops start-up, naming the route and the option", async () => {
      const refused = (controllers: (new () => unknown)[], message: RegExp): Promise<void> =>
        refusesToStart(platform, HeadroomModule.forRoot({ monitor: { autoStart: false } }), controllers, message);
      // Before, every /admin/* route of the app answered 403 HEADROOM_ADMIN_DISABLED ("set adminToken").
      await refused(
        [jsonController('admin', 'users')],
        /route POST \/admin\/users \(headroom's admin at \/admin\) is answered by headroom before Nest routes it.*routes: \{ admin: '\/headroom-admin' \}.*routes: \{ admin: false \}/,
      );
      await refused(
        [getController('health'), getController('metrics')],
        /route GET \/health \(headroom's health at \/health\), GET \/metrics \(headroom's metrics at \/metrics\).*routes: \{ health: '\/headroom-health', metrics: '\/headroom-metrics' \}/,
      );
      // Moved (or below /health but not one of its probes, or POST /metrics): the app's routes answer.
      const t = await startApp(platform, HeadroomModule.forRoot({ routes: { admin: '/ops' }, monitor: { autoStart: false } }), {
        controllers: [getController('admin', 'users'), getController('health', 'db'), jsonController('metrics', '')],
      });
      try {
        assert.deepEqual((await request(`${t.url}/admin/users`)).json(), { app: 'admin/users' });
        assert.deepEqual((await request(`${t.url}/health/db`)).json(), { app: 'health/db' });
        assert.deepEqual((await request(`${t.url}/metrics`, json({ m: 1 }))).json(), { created: { m: 1 } });
        assert.equal((await request(`${t.url}/ops/memory-stats`)).json().error.code, 'HEADROOM_ADMIN_DISABLED');
        assert.equal((await request(`${t.url}/health/ready`)).status, 200);
      } finally {
        await t.app.close();
      }
    });

    test('the admin rate limit keys on the client address the platform reports (trust proxy honoured)', async () => {
      const t: TestApp = await startApp(platform, HeadroomModule.forRoot({ adminToken: TOKEN, adminRateLimit: 2 }), { trustProxy: true });
      try {
        const ask = (ip: string) =>
          request(`${t.url}/admin/memory-stats`, { headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': ip } });
        assert.equal((await ask('203.0.113.1')).status, 200);
        assert.equal((await ask('203.0.113.1')).status, 200);
        assert.equal((await ask('203.0.113.1')).status, 429);
        assert.equal((await ask('203.0.113.2')).status, 200, 'another client behind the same load balancer has its own bucket');
      } finally {
        await t.app.close();
      }
    });

    test('/health/ answers like /health (as on Fastify and Express); the probes below it are exact', async () => {
      const t = await startApp(platform, HeadroomModule.forRoot({}));
      try {
        const slash = await request(`${t.url}/health/`);
        assert.equal(slash.status, 200);
        assert.equal(slash.json().status, 'healthy');
        assert.equal((await request(`${t.url}/metrics/`)).status, 200);
        assert.equal((await request(`${t.url}/health/ready/`)).status, 404);
      } finally {
        await t.app.close();
      }
    });
  });
}

describe('nestjs: handlers that need an option', () => {
  test('proxyHandler() / imageHandler() without their option stop start-up, naming the option', async () => {
    for (const [make, option] of [
      [(s: HeadroomService) => s.proxyHandler(), /proxy: \{ upstreamUrl \}/],
      [(s: HeadroomService) => s.imageHandler(), /image: \{ allowedOrigins \}/],
    ] as const) {
      class MyProxy {
        readonly handle: unknown;
        constructor(headroom: HeadroomService) {
          this.handle = make(headroom);
        }
      }
      Inject(HeadroomService)(MyProxy, undefined, 0);
      Controller('mine')(MyProxy);
      const { Module } = await import('@nestjs/common');
      class M {}
      Module({ imports: [HeadroomModule.forRoot({})], controllers: [MyProxy] })(M);
      await assert.rejects(
        NestFactory.create(M, { logger: false, abortOnError: false }),
        (err: unknown) => isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID' && option.test(err.message),
      );
    }
  });

  test('bad routes stop start-up with the shared path rule', () => {
    assert.throws(
      () => HeadroomModule.forRoot({ routes: { health: 'health', proxy: '/api/' } }),
      /HeadroomModule: routes: health="health": must be a path like \/health .*; proxy="\/api\/": must be a path like \/api/,
    );
    // Two of headroom's routes on one path, or one on a health probe's, could not both answer.
    assert.throws(() => HeadroomModule.forRoot({ routes: { metrics: '/ops', admin: '/ops' } }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message:
        'HeadroomModule: routes: metrics="/ops" and admin="/ops" claim the same path: each of headroom\'s routes needs a path of its own (or false to leave one out)',
    });
    assert.throws(
      () => HeadroomModule.forRoot({ routes: { health: '/hc', metrics: '/hc/live' } }),
      /health="\/hc" and metrics="\/hc\/live" claim the same path/,
    );
    // A route under the admin API's path is found first: fine.
    HeadroomModule.forRoot({ routes: { admin: '/ops', health: '/ops/health', metrics: '/ops/metrics' } });
  });
});
