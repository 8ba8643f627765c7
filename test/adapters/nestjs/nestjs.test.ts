// HeadroomModule on real Nest apps, on @nestjs/platform-express and @nestjs/platform-fastify.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HeadroomModule } from '../../../src/adapters/nestjs/index.js';
import { createMemoryMonitor } from '../../../src/monitor/monitor.js';
import type { MemoryMonitor } from '../../../src/monitor/types.js';
import { request } from '../../helpers/http.js';
import { CONTINUE, rawRequest, uploadOnContinue, type RawReply } from '../../helpers/raw-http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { fakeMemory, type FakeMemory } from '../../monitor/helpers.js';
import { createApp, holdRequest, PLATFORMS, startApp, startUpstream, type TestApp, type Upstream } from './app.js';

const TOKEN = 'nest-admin-token-0123456789';

function fakeMonitor(): { memory: FakeMemory; monitor: MemoryMonitor } {
  const memory = fakeMemory();
  const monitor = createMemoryMonitor({
    sampler: memory.sampler,
    sampleInterval: 60_000,
    warningThreshold: 0.7,
    criticalThreshold: 0.85,
    hysteresis: 0.05,
  });
  return { memory, monitor };
}

test('NestJS on Fastify with a case-insensitive router: the proxy takes /API/… as Fastify routes it, body kept from the parser', async () => {
  const upstream = await startUpstream();
  const t = await startApp('fastify', HeadroomModule.forRoot({ monitor: { autoStart: false }, proxy: { upstreamUrl: upstream.url } }), {
    fastify: { routerOptions: { caseSensitive: false } },
  });
  try {
    const json = await request(`${t.url}/API/echo?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.equal(json.status, 200, json.text);
    assert.deepEqual(json.json(), { method: 'POST', url: '/echo?x=1', body: '{"a":1}', contentType: 'application/json' });
    // A type Fastify has no parser for reaches the upstream too (no 415: the body is kept from Fastify).
    const binary = await request(`${t.url}/Api/upload`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'bytes',
    });
    assert.equal(binary.status, 200, binary.text);
    assert.equal(binary.json().body, 'bytes');
  } finally {
    await t.app.close();
    await upstream.close();
  }
});

for (const platform of PLATFORMS) {
  describe(`nestjs on ${platform}`, () => {
    let upstream: Upstream;
    let memory: FakeMemory;
    let monitor: MemoryMonitor;
    let t: TestApp;
    before(async () => {
      upstream = await startUpstream();
      ({ memory, monitor } = fakeMonitor());
      t = await startApp(
        platform,
        HeadroomModule.forRoot({
          monitor,
          adminToken: TOKEN,
          shedExempt: ['/app/hello', '/hc'],
          proxy: { upstreamUrl: upstream.url },
          retryAfter: 7,
        }),
      );
    });
    after(async () => {
      await t.app.close();
      await monitor.close();
      await upstream.close();
    });
    const critical = (): void => {
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
    };
    const healthy = (): void => {
      memory.setHeapRatio(0.1);
      monitor.sampleNow();
    };

    test('health, live, ready, metrics and the admin API answer in front of the app, not behind its guard', async () => {
      const deny = { 'x-deny': '1' };
      assert.equal((await request(`${t.url}/health`, { headers: deny })).json().status, 'healthy');
      assert.deepEqual((await request(`${t.url}/health/live`, { headers: deny })).json(), { status: 'ok' });
      assert.equal((await request(`${t.url}/health/ready`, { headers: deny })).status, 200);
      const metrics = await request(`${t.url}/metrics`, { headers: deny });
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /^headroom_app_requests_in_flight 0$/m);
      assert.match(metrics.text, /^headroom_proxy_/m);
      assert.equal((await request(`${t.url}/admin/memory-stats`)).status, 401);
      assert.equal(
        (await request(`${t.url}/admin/memory-stats`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status,
        401,
      );
      const stats = await request(`${t.url}/admin/memory-stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(stats.status, 200);
      assert.equal(stats.json().memory.heapLimit, memory.heapLimit);
      assert.equal((await request(`${t.url}/admin/proxy-stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).json().inFlight, 0);
    });

    test('terminus: the indicator is up while healthy and down (503) while critical, from the latest sample', async () => {
      const up = await request(`${t.url}/hc`);
      assert.equal(up.status, 200);
      assert.equal(up.json().status, 'ok');
      assert.equal(up.json().info.memory.status, 'up');
      assert.equal(up.json().info.memory.heapLimit, memory.heapLimit);
      critical();
      try {
        // /hc is in shedExempt, so terminus answers (an app route is shed while critical).
        const down = await request(`${t.url}/hc`);
        assert.equal(down.status, 503);
        assert.equal(down.json().status, 'error');
        assert.equal(down.json().error.memory.status, 'down');
        assert.equal(down.json().error.memory.memory, 'critical');
        const indicator = t.app.get((await import('../../../src/adapters/nestjs/index.js')).HeadroomHealthIndicator);
        assert.equal(indicator.check('mem').mem!.status, 'down');
        assert.throws(() => indicator.isHealthy('mem'), { isHealthCheckError: true });
      } finally {
        healthy();
      }
    });

    test('while critical: app and proxied routes 503 + Retry-After before any controller, health and exempt routes answer', async () => {
      const before = upstream.seen.length;
      critical();
      try {
        for (const path of ['/app/slow?ms=0', '/api/echo', '/parsed-api/x', '/nowhere']) {
          const r = await request(`${t.url}${path}`);
          assert.equal(r.status, 503, path);
          assert.equal(r.headers['retry-after'], '7', path);
          assert.equal(r.json().error.code, 'HEADROOM_MEMORY_PRESSURE', path);
        }
        assert.equal((await request(`${t.url}/health/ready`)).status, 503);
        assert.equal((await request(`${t.url}/health/live`)).status, 200);
        assert.equal((await request(`${t.url}/health`)).status, 503);
        assert.equal((await request(`${t.url}/app/hello`)).status, 200, 'shedExempt');
        // Express routes /APP/HELLO to /app/hello (case-insensitive by default): exempt too. Fastify
        // (case-sensitive by default) has no such route: shed like any other path.
        assert.equal((await request(`${t.url}/APP/HELLO`)).status, platform === 'express' ? 200 : 503, 'shedExempt in the routing case');
        assert.equal(upstream.seen.length, before, 'the upstream is never called while shedding');
      } finally {
        healthy();
      }
      assert.equal((await request(`${t.url}/app/slow?ms=0`)).status, 200);
      assert.equal((await request(`${t.url}/health/ready`)).status, 200);
    });

    test('Expect: 100-continue: an upload gets 100 once its body is read; a guarded or shed request gets its final status alone', async () => {
      const head = (path: string, length: number, extra = ''): string =>
        `POST ${path} HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n${extra}\r\n`;
      const before = upstream.seen.length;
      const parsed = await uploadOnContinue(t.url, head('/app/echo', 7), '{"a":1}');
      assert.ok(parsed.text.startsWith(CONTINUE), parsed.text);
      assert.match(parsed.text, /\r\n\r\n\{"received":\{"a":1\}\}$/);
      const proxied = await uploadOnContinue(t.url, head('/api/up', 7), '"hello"');
      assert.ok(proxied.text.startsWith(CONTINUE), proxied.text);
      assert.match(proxied.text.slice(CONTINUE.length), /^HTTP\/1\.1 200 /);
      assert.equal(upstream.seen.at(-1)?.body, '"hello"');
      // 1 MB announced and never sent: the client waits for a go-ahead that must not come.
      const denied = await rawRequest(t.url, head('/api/up', 1_000_000, 'x-deny: 1\r\n'), undefined, 5_000);
      assert.equal(denied.status, 401, denied.text);
      assert.doesNotMatch(denied.text, /100 Continue/);
      assert.equal(denied.closed, true);
      critical();
      try {
        const shed = await rawRequest(t.url, head('/app/echo', 1_000_000), undefined, 5_000);
        assert.equal(shed.status, 503, shed.text);
        assert.doesNotMatch(shed.text, /100 Continue/);
        assert.equal(shed.closed, true);
      } finally {
        healthy();
      }
      assert.equal(upstream.seen.length, before + 1, 'the upstream saw only the accepted upload');
    });

    test('absolute-form targets (http://host/…): probes answer, the proxy gets the body unparsed; a target naming another host is 400', async () => {
      const host = new URL(t.url).host;
      const send = (method: string, target: string, body = ''): Promise<RawReply> =>
        rawRequest(
          t.url,
          `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      const ready = await send('GET', `http://${host}/health/ready`, '');
      assert.equal(ready.status, 200, ready.text);
      const before = upstream.seen.length;
      const post = await send('POST', `http://${host}/api/echo?x=1`, '{"a":1}');
      assert.equal(post.status, 200, post.text);
      assert.deepEqual(
        upstream.seen.slice(before).map((r) => [r.method, r.url, r.body]),
        [['POST', '/echo?x=1', '{"a":1}']],
      );
      const forged = await send('GET', 'http://evil.example/api/echo');
      assert.equal(forged.status, 400, forged.text);
      assert.match(forged.text, /names evil\.example but the Host header/);
      assert.equal(upstream.seen.length, before + 1);
    });

    test("the app's guard runs before the proxy: denied requests never reach the upstream", async () => {
      const before = upstream.seen.length;
      const denied = await request(`${t.url}/api/echo?x=1`, { headers: { 'x-deny': '1' } });
      assert.equal(denied.status, 401);
      assert.deepEqual(denied.json(), { error: 'denied by app' });
      const post = await request(`${t.url}/api/echo`, {
        method: 'POST',
        headers: { 'x-deny': '1', 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(post.status, 401);
      assert.equal(upstream.seen.length, before);
    });

    test('the proxy keeps the path and query exactly and forwards bodies of any type unparsed', async () => {
      const get = await request(`${t.url}/api/echo?x=4&y=%2F&z=a+b`);
      assert.equal(get.status, 200);
      assert.equal(get.json().url, '/echo?x=4&y=%2F&z=a+b');
      const json = await request(`${t.url}/api/items?v=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":[1,2]}',
      });
      assert.equal(json.status, 200);
      assert.deepEqual(json.json(), { method: 'POST', url: '/items?v=1', body: '{"a":[1,2]}', contentType: 'application/json' });
      // Fastify would answer 415 to a type it has no parser for, and cap the size at its bodyLimit.
      const big = Buffer.alloc(3 * 1024 * 1024, 'b');
      const binary = await request(`${t.url}/api/upload`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: big,
      });
      assert.equal(binary.status, 200);
      assert.equal(binary.json().body.length, big.length);
      assert.equal(binary.json().contentType, 'application/octet-stream');
      const form = await request(`${t.url}/api/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1&b=2',
      });
      assert.equal(form.json().body, 'a=1&b=2');
    });

    test("the mount matches the way the platform routes: Express's any case, Fastify's exactly", async () => {
      const r = await request(`${t.url}/API/echo?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      if (platform === 'express') {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json().url, '/echo?x=1');
        assert.equal(r.json().body, '{"a":1}', 'the body was kept from the parser under the mount in any case');
      } else assert.equal(r.status, 404);
      // The app's own proxy controller (proxyRequest with its mount) the same way.
      const own = await request(`${t.url}/PARSED-API/echo?q=1`);
      if (platform === 'express') {
        assert.equal(own.status, 200, own.text);
        assert.equal(own.json().url, '/echo?q=1');
      } else assert.equal(own.status, 404);
    });

    test('a mount spelt with percent-encoded letters (/%61pi) that the platform routes to the proxy keeps its body from the parser', async () => {
      const r = await request(`${t.url}/%61pi/echo?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      if (platform === 'fastify') {
        // Fastify's router decodes the letters and routes to the proxy (the body was parsed: 500 BODY_CONSUMED).
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json(), { method: 'POST', url: '/echo?x=1', body: '{"a":1}', contentType: 'application/json' });
      } else assert.equal(r.status, 404, 'Express does not route it to the proxy');
    });

    test("Nest's body parser still serves the app's own routes", async () => {
      const r = await request(`${t.url}/app/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(r.status, 201);
      assert.deepEqual(r.json(), { received: { n: 1 } });
    });

    test('a proxy mounted behind the body parser answers 500 HEADROOM_BODY_CONSUMED and never calls the upstream', async () => {
      const before = upstream.seen.length;
      const r = await request(`${t.url}/parsed-api/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(r.status, 500);
      assert.equal(r.json().error.code, 'HEADROOM_BODY_CONSUMED');
      assert.match(r.json().error.message, /before body parsers/);
      assert.equal(upstream.seen.length, before);
      // Without a body it works, under its own mount path.
      const get = await request(`${t.url}/parsed-api/echo?q=%2F`);
      assert.equal(get.json().url, '/echo?q=%2F');
    });

    test('an aborted request gives its in-flight slot back', async () => {
      const service = t.app.get((await import('../../../src/adapters/nestjs/index.js')).HeadroomService);
      const req = httpRequest(`${t.url}/app/slow?ms=2000`, { agent: false });
      req.on('error', () => undefined);
      req.end();
      await waitFor(() => service.stats().requests.inFlight === 1, 'the request is in flight');
      req.destroy();
      await waitFor(() => service.stats().requests.inFlight === 0, 'the slot is given back');
    });
  });
}

describe('nestjs: lifecycle', () => {
  for (const platform of PLATFORMS) {
    test(`${platform}: app.close() drains (ready 503, in-flight finish, new requests refused) and leaves no handle`, async () => {
      await assertNoLeakedHandles(async () => {
        const upstream = await startUpstream();
        try {
          const t = await startApp(
            platform,
            HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url }, monitor: { sampleInterval: 200 } }),
          );
          assert.equal((await request(`${t.url}/api/x`)).status, 200);
          const held = holdRequest(`drain-${platform}`);
          const inFlight = request(`${t.url}/app/gate?id=drain-${platform}`);
          await held.arrived;
          const closing = t.app.close();
          // The held request keeps the server draining (and listening) until the gate opens.
          const ready = await waitFor(async () => {
            const r = await request(`${t.url}/health/ready`);
            return r.status === 503 ? r : undefined;
          }, 'ready turns 503 once app.close() has begun');
          assert.equal(ready.json().draining, true);
          const refused = await request(`${t.url}/app/hello`);
          assert.equal(refused.status, 503);
          assert.equal(refused.json().error.code, 'HEADROOM_DRAINING');
          held.release();
          assert.deepEqual((await inFlight).json(), { released: `drain-${platform}` });
          await closing;
          // The module's hold on the server's 100 Continue (and, on Express, its place in front) is given back at close.
          assert.equal((t.app.getHttpServer() as Server).listenerCount('checkContinue'), 0);
        } finally {
          await upstream.close(); // else a failed assertion leaves it open and the file never ends
        }
      });
    });

    test(`${platform}: enableHeadroomShutdown waits once, for the module's drainTimeout (the shutdown hook does not wait again)`, async () => {
      const { enableHeadroomShutdown, HeadroomService } = await import('../../../src/adapters/nestjs/index.js');
      const t = await startApp(platform, HeadroomModule.forRoot({ drainTimeout: 300, monitor: { sampleInterval: 200 } }));
      const { headroom } = t.app.get(HeadroomService);
      const waits: number[] = [];
      const idle = headroom.idle.bind(headroom);
      headroom.idle = (ms: number) => (waits.push(ms), idle(ms));
      const logs: string[] = [];
      const held = holdRequest(`once-${platform}`);
      // Cut once the wait is over (its connection closed), unless released first: either is fine here.
      const inFlight = request(`${t.url}/app/gate?id=once-${platform}`).catch(() => undefined);
      await held.arrived;
      const stop = enableHeadroomShutdown(t.app, { signals: [], log: (line: string) => void logs.push(line) });
      const stopped = stop();
      await waitFor(() => logs.some((l) => l.includes('still running after 300 ms')), 'the one wait ends');
      held.release();
      await inFlight;
      await stopped;
      assert.deepEqual(waits, [300], 'one wait, the drainTimeout');
      assert.ok(logs.includes('in-flight requests still running after 300 ms: closing the app'), logs.join('\n'));
    });

    for (const how of ['enableHeadroomShutdown', 'app.close()'] as const) {
      test(`${platform}: ${how} with a request that never ends: done after the drain's timeout, its connection closed`, async () => {
        const { enableHeadroomShutdown } = await import('../../../src/adapters/nestjs/index.js');
        const id = `stuck-${platform}-${how}`;
        const held = holdRequest(id);
        try {
          await assertNoLeakedHandles(async () => {
            const t = await startApp(platform, HeadroomModule.forRoot({ drainTimeout: 300, monitor: { autoStart: false } }));
            const stuck = request(`${t.url}/app/gate?id=${id}`).then(
              () => 'answered',
              (err: NodeJS.ErrnoException) => err.code,
            );
            await held.arrived;
            const t0 = performance.now();
            const stopped = how === 'app.close()' ? t.app.close() : enableHeadroomShutdown(t.app, { signals: [] })();
            // Unbounded before: Nest's server close waited for the stuck request for ever.
            let bound: NodeJS.Timeout | undefined;
            const outcome = await Promise.race([
              stopped.then(() => 'stopped'),
              new Promise<string>((resolve) => (bound = setTimeout(resolve, 8_000, 'still stopping after 8 s'))),
            ]);
            clearTimeout(bound);
            assert.equal(outcome, 'stopped');
            const ms = performance.now() - t0;
            assert.ok(ms >= 250 && ms < 5_000, `stopped after ${ms.toFixed(0)} ms (drainTimeout 300 ms)`);
            assert.equal(await stuck, 'ECONNRESET', 'the stuck request is cut, not answered');
          });
        } finally {
          held.release();
        }
      });
    }

    test(
      `${platform}: app.close() with a proxied download that never ends: done within drainTimeout + closeTimeout`,
      { timeout: 30_000 },
      async () => {
        await assertNoLeakedHandles(async () => {
          // An upstream that sends a byte every 100 ms for ever: never idle, so no stream timeout cuts it.
          const timers = new Set<NodeJS.Timeout>();
          const drip = createServer((_req, res) => {
            res.writeHead(200, { 'content-type': 'application/octet-stream' });
            const t = setInterval(() => res.write('x'), 100);
            timers.add(t);
            res.once('close', () => (clearInterval(t), timers.delete(t)));
          });
          drip.listen(0, '127.0.0.1');
          await once(drip, 'listening');
          const upstreamUrl = `http://127.0.0.1:${(drip.address() as AddressInfo).port}`;
          const t = await startApp(
            platform,
            HeadroomModule.forRoot({ proxy: { upstreamUrl, closeTimeout: 500 }, drainTimeout: 500, monitor: { autoStart: false } }),
          );
          const client = httpRequest(`${t.url}/api/drip`);
          client.on('error', () => undefined);
          client.end();
          const response = await new Promise<IncomingMessage>((resolve) => client.once('response', resolve));
          assert.equal(response.statusCode, 200);
          response.on('error', () => undefined);
          await new Promise((resolve) => response.once('data', resolve));
          response.resume();
          const t0 = performance.now();
          await t.app.close();
          const ms = performance.now() - t0;
          assert.ok(ms < 5_000, `app.close() took ${ms.toFixed(0)} ms (drainTimeout and closeTimeout 500 ms)`);
          client.destroy();
          for (const timer of timers) clearInterval(timer);
          drip.closeAllConnections();
          drip.close();
          await once(drip, 'close');
        });
      },
    );
  }

  test('on Express headroom answers in front of the Express app: its own middleware never sees probes or shed requests', async () => {
    const { memory, monitor } = fakeMonitor();
    const seen: string[] = [];
    const t = await startApp('express', HeadroomModule.forRoot({ monitor }), {
      expressFirst: (req, _res, next) => {
        seen.push(req.url ?? '');
        next();
      },
    });
    try {
      memory.setHeapRatio(0.1);
      monitor.sampleNow();
      assert.equal((await request(`${t.url}/health/ready`)).status, 200);
      assert.equal((await request(`${t.url}/metrics`)).status, 200);
      assert.equal((await request(`${t.url}/app/hello`)).status, 200);
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      assert.equal((await request(`${t.url}/app/hello`)).status, 503);
      assert.deepEqual(seen, ['/app/hello'], 'only the request headroom passed reached the Express app');
    } finally {
      await t.app.close();
      await monitor.close();
    }
  });

  test("on Express served by the app's own server too (Nest's multi-server pattern): probes, shedding, counting and proxied bodies", async () => {
    const { memory, monitor } = fakeMonitor();
    const upstream = await startUpstream();
    const app = await createApp('express', HeadroomModule.forRoot({ monitor, proxy: { upstreamUrl: upstream.url } }));
    // NestFactory.create(M, new ExpressAdapter(expressApp)); await app.init(); http.createServer(expressApp).listen(…)
    await app.init();
    const own = createServer(app.getHttpAdapter().getInstance() as (req: IncomingMessage, res: unknown) => void);
    own.listen(0, '127.0.0.1');
    await once(own, 'listening');
    const url = `http://127.0.0.1:${(own.address() as AddressInfo).port}`;
    await app.listen(0, '127.0.0.1'); // Nest's own server as well, gated in front
    const nest = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
    const held = [holdRequest('own-server'), holdRequest('nest-server')];
    try {
      memory.setHeapRatio(0.1);
      monitor.sampleNow();
      // Before: 404 (the gate stood in front of Nest's server only) and 500 HEADROOM_BODY_CONSUMED.
      assert.equal((await request(`${url}/health`)).json().status, 'healthy');
      const posted = await request(`${url}/api/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(posted.status, 200, posted.text);
      assert.deepEqual(upstream.seen.at(-1), { method: 'POST', url: '/items', body: '{"a":1}', contentType: 'application/json' });
      // Counted once each, whichever server they came through.
      const inFlight = [request(`${url}/app/gate?id=own-server`), request(`${nest}/app/gate?id=nest-server`)];
      await Promise.all(held.map((h) => h.arrived));
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 2$/m);
      for (const h of held) h.release();
      await Promise.all(inFlight);
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      const shed = await request(`${url}/app/hello`);
      assert.equal(shed.status, 503);
      assert.equal(shed.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
    } finally {
      for (const h of held) h.release();
      own.closeAllConnections();
      own.close();
      await app.close();
      await monitor.close();
      await upstream.close();
    }
  });

  for (const platform of PLATFORMS) {
    test(`on ${platform} headroom answers before the app's Nest middleware: an auth middleware does not block probes, and shedding comes first`, async () => {
      const { memory, monitor } = fakeMonitor();
      const t = await startApp(platform, HeadroomModule.forRoot({ monitor, adminToken: TOKEN }), {
        appMiddleware: (req, res, next) => {
          if (req.headers['x-api-key'] === 'k') return next();
          res.statusCode = 401;
          res.end('blocked by app middleware');
        },
      });
      try {
        memory.setHeapRatio(0.1);
        monitor.sampleNow();
        assert.equal((await request(`${t.url}/health/ready`)).status, 200);
        assert.equal((await request(`${t.url}/metrics`)).status, 200);
        assert.equal((await request(`${t.url}/admin/memory-stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
        assert.equal((await request(`${t.url}/app/hello`)).status, 401, 'the app middleware guards its own routes');
        memory.setHeapRatio(0.95);
        monitor.sampleNow();
        assert.equal((await request(`${t.url}/app/hello`)).status, 503, 'shed before the app middleware runs');
        assert.equal((await request(`${t.url}/health/ready`)).status, 503);
      } finally {
        await t.app.close();
        await monitor.close();
      }
    });
  }

  test("on Fastify an onRequest hook the app sets with setOnRequestHook runs after headroom's, never instead of it", async () => {
    const seen: string[] = [];
    const app = await createApp('fastify', HeadroomModule.forRoot({}));
    const adapter = app.getHttpAdapter() as unknown as {
      setOnRequestHook(h: (req: { url: string }, reply: unknown, done: () => void) => void): void;
    };
    adapter.setOnRequestHook((req, _reply, done) => {
      seen.push(req.url);
      done();
    });
    await app.listen(0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
      assert.equal((await request(`${url}/health/ready`)).status, 200, "headroom's probe still answers");
      assert.equal((await request(`${url}/app/hello`)).status, 200);
      assert.deepEqual(seen, ['/app/hello'], "the app's hook runs for what headroom passes on");
    } finally {
      await app.close();
    }
  });

  test('forRootAsync: options from an injected factory; routes declared beside it', async () => {
    await assertNoLeakedHandles(async () => {
      const upstream = await startUpstream();
      const CONFIG = Symbol('config');
      const { Module } = await import('@nestjs/common');
      class ConfigModule {}
      Module({ providers: [{ provide: CONFIG, useValue: { upstream: upstream.url } }], exports: [CONFIG] })(ConfigModule);
      const t = await startApp(
        'express',
        HeadroomModule.forRootAsync({
          imports: [ConfigModule],
          inject: [CONFIG],
          useFactory: (config: { upstream: string }) => ({ proxy: { upstreamUrl: config.upstream, prefix: '/backend' } }),
          routes: { proxy: '/backend', health: '/healthz' },
        }),
      );
      assert.equal((await request(`${t.url}/healthz/ready`)).status, 200);
      assert.equal((await request(`${t.url}/backend/a?b=1`)).json().url, '/a?b=1');
      await t.app.close();
      await upstream.close();
    });
  });

  test('a bad drainTimeout stops start-up naming it (a duration such as 10s is taken); enableHeadroomShutdown checks its options', async () => {
    const { Module } = await import('@nestjs/common');
    const { NestFactory } = await import('@nestjs/core');
    const { enableHeadroomShutdown } = await import('../../../src/adapters/nestjs/index.js');
    class Bad {}
    Module({ imports: [HeadroomModule.forRoot({ drainTimeout: 'soon' })] })(Bad);
    await assert.rejects(NestFactory.create(Bad, { logger: false, abortOnError: false }), {
      message: 'HeadroomModule: drainTimeout="soon": must be a duration between 0ms and 1h (milliseconds, or a number with ms, s, m or h)',
    });
    await assertNoLeakedHandles(async () => {
      class Good {}
      Module({ imports: [HeadroomModule.forRoot({ drainTimeout: '10s' })] })(Good);
      const app = await NestFactory.create(Good, { logger: false, abortOnError: false });
      try {
        const before = process.listenerCount('SIGTERM');
        assert.throws(() => enableHeadroomShutdown(app, { signals: 'SIGTERM', timeout: 'soon', close: () => 1 } as never), {
          code: 'HEADROOM_CONFIG_INVALID',
          message:
            'enableHeadroomShutdown: timeout="soon": must be a duration between 0ms and 1h (milliseconds, or a number with ms, s, m or h); close: unknown option',
        });
        assert.equal(process.listenerCount('SIGTERM'), before, 'nothing installed');
      } finally {
        await app.close();
      }
    });
  });

  test("proxyRequest under a mount the route does not have answers 400 naming the mount, not the proxy's prefix", async () => {
    const { Controller, All, Req, Res, Inject } = await import('@nestjs/common');
    const { HeadroomService } = await import('../../../src/adapters/nestjs/index.js');
    class Legacy {
      constructor(private readonly headroom: InstanceType<typeof HeadroomService>) {}
      proxy(req: never, res: never): void {
        this.headroom.proxyRequest(req, res, { mount: '/legacy-api' });
      }
    }
    Inject(HeadroomService)(Legacy, undefined, 0);
    All('*path')(Legacy.prototype, 'proxy', Object.getOwnPropertyDescriptor(Legacy.prototype, 'proxy')!);
    Req()(Legacy.prototype, 'proxy', 0);
    Res()(Legacy.prototype, 'proxy', 1);
    Controller('v1/legacy-api')(Legacy);
    const upstream = await startUpstream();
    const t = await startApp('express', HeadroomModule.forRoot({ proxy: { upstreamUrl: upstream.url } }), { controllers: [Legacy] });
    try {
      const r = await request(`${t.url}/v1/legacy-api/x`);
      assert.equal(r.status, 400);
      assert.match(
        r.json().error.message,
        /^path \/v1\/legacy-api\/x is not under \/legacy-api, where this proxy handler was told it is mounted/,
      );
      assert.deepEqual(upstream.seen, []);
    } finally {
      await t.app.close();
      await upstream.close();
    }
  });

  test('HeadroomModule imported twice in one app stops start-up naming the fix (two gates would answer readiness apart)', async () => {
    const { Module } = await import('@nestjs/common');
    const { NestFactory } = await import('@nestjs/core');
    const { ExpressAdapter } = await import('@nestjs/platform-express');
    class Feature {}
    Module({ imports: [HeadroomModule.forRoot({})] })(Feature);
    class Root {}
    Module({ imports: [HeadroomModule.forRoot({}), Feature] })(Root);
    await assert.rejects(NestFactory.create(Root, new ExpressAdapter(), { logger: false, abortOnError: false }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /HeadroomModule is imported twice in this app .* import it once, in the root module/,
    });
  });

  test('routes.proxy without the proxy option stops start-up with a message naming both', async () => {
    const { Module } = await import('@nestjs/common');
    const { NestFactory } = await import('@nestjs/core');
    class M {}
    Module({ imports: [HeadroomModule.forRoot({ routes: { proxy: '/api' } })] })(M);
    await assert.rejects(NestFactory.create(M, { logger: false, abortOnError: false }), /routes\.proxy=\/api needs the `proxy` option/);
  });
});
