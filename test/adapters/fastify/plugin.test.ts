// The Fastify plugin in real apps over real HTTP: the app's auth hook runs before the proxy,
// shedding with Retry-After and hysteresis, the memory decorator, the admin API, in-flight
// counting through aborts, and close() leaving nothing behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { fastifyPluginSpecs, gracefulShutdown, headroom, healthRoutes, proxyHandler } from '../../../src/adapters/fastify/index.js';
import { request } from '../../helpers/http.js';
import { CONTINUE, rawRequest, uploadOnContinue } from '../../helpers/raw-http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { startUpstream } from '../../proxy/helpers.js';
import { ADMIN_TOKEN, controlledMonitor, startApp } from './helpers.js';

const inFlight = async (url: string): Promise<number> => {
  const text = (await request(`${url}/metrics`)).text;
  return Number(/^headroom_app_requests_in_flight (\d+)$/m.exec(text)?.[1]);
};

describe('Fastify plugin', () => {
  test("the app's onRequest auth hook protects /api/* as well as its own routes", async () => {
    const up = await startUpstream((req, res) => res.end(JSON.stringify({ url: req.url })));
    const { app, url } = await startApp({ proxy: { upstreamUrl: up.url } });
    try {
      const deny = { 'x-deny': '1' };
      assert.equal((await request(`${url}/app/hello`, { headers: deny })).status, 401);
      const api = await request(`${url}/api/echo?x=4&y=%2F`, { headers: deny });
      assert.equal(api.status, 401);
      assert.deepEqual(api.json(), { error: 'denied by app' });
      assert.equal(up.received.length, 0, 'the upstream was never called');
      // Allowed: path and query reach the upstream exactly, prefix stripped.
      const ok = await request(`${url}/api/echo?x=4&y=%2F`);
      assert.deepEqual(ok.json(), { url: '/echo?x=4&y=%2F' });
      // An absolute-form target (RFC 9112 §3.2.2) is proxied by its path, once it names the Host header.
      const host = new URL(url).host;
      const absolute = await rawRequest(url, `GET http://${host}/api/echo?x=5 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.match(absolute.text, /^HTTP\/1\.1 200 [^]*\r\n\r\n\{"url":"\/echo\?x=5"\}$/);
      // HTTP/1.0 need not send Host: the target's host stands in for it upstream.
      const old = await rawRequest(url, 'GET http://old.example/api/echo?x=6 HTTP/1.0\r\n\r\n');
      assert.match(old.text, /^HTTP\/1\.1 200 [^]*\{"url":"\/echo\?x=6"\}$/);
      assert.equal(up.received.at(-1)?.headers['x-forwarded-host'], 'old.example');
      assert.equal((await request(`${url}/health/ready`, { headers: deny })).status, 200);
    } finally {
      await app.close();
      await up.close();
    }
  });

  test("the proxy forwards bodies unread while the app's other routes keep Fastify's JSON parser", async () => {
    const up = await startUpstream((req, res, rec) => req.on('end', () => res.end(JSON.stringify({ bytes: rec.bodyBytes }))).resume());
    const { app, url } = await startApp({ proxy: { upstreamUrl: up.url } });
    try {
      const json = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2,3]}' };
      assert.deepEqual((await request(`${url}/app/echo`, json)).json(), { received: { a: [1, 2, 3] } });
      assert.deepEqual((await request(`${url}/api/upload`, json)).json(), { bytes: 13 });
      const odd = { method: 'PUT', headers: { 'content-type': 'application/x-odd' }, body: Buffer.alloc(100_000, 1) };
      assert.deepEqual((await request(`${url}/api/upload`, odd)).json(), { bytes: 100_000 });
    } finally {
      await app.close();
      await up.close();
    }
  });

  test("under a register prefix the proxy keeps path and query, and the app's hooks still see the client's URL", async () => {
    const up = await startUpstream((req, res) => res.end(JSON.stringify({ url: req.url })));
    const seen: string[] = []; // what the app's own onResponse hook (an access log) reads
    const { app, url } = await startApp({ proxy: { upstreamUrl: up.url }, proxyRoutes: false }, async (a) => {
      a.addHook('onResponse', async (request) => void seen.push(request.url));
      a.all('/v2/*', proxyHandler(a.headroom.proxy!));
      await a.register(
        async (scope) => {
          const { proxyRoutes } = await import('../../../src/adapters/fastify/index.js');
          await scope.register(proxyRoutes, { proxy: a.headroom.proxy! });
        },
        { prefix: '/v1' },
      );
    });
    try {
      assert.deepEqual((await request(`${url}/v1/api/a%2Fb/c?x=4&y=%2F&z`)).json(), { url: '/a%2Fb/c?x=4&y=%2F&z' });
      assert.deepEqual((await request(`${url}/v2/a/b?q=1`)).json(), { url: '/a/b?q=1' });
      await waitFor(() => seen.length === 2, 'both responses logged');
      assert.deepEqual(seen, ['/v1/api/a%2Fb/c?x=4&y=%2F&z', '/v2/a/b?q=1'], 'request.url is left as the client sent it');
      assert.equal((await request(`${url}/v1/api/x`, { headers: { 'x-deny': '1' } })).status, 401);
      // Absolute-form targets (RFC 9112 §3.2.2) are mapped by their path under either mount.
      const host = new URL(url).host;
      for (const [path, upstream] of [
        ['/v1/api/a?x=5', '/a?x=5'],
        ['/v2/a/b?q=2', '/a/b?q=2'],
      ]) {
        const r = await rawRequest(url, `GET http://${host}${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.ok(r.text.endsWith(`\r\n\r\n${JSON.stringify({ url: upstream })}`), `${path}: ${r.text}`);
      }
      assert.equal((await request(`${url}/api/x`)).status, 404, 'not mounted at the root');
    } finally {
      await app.close();
      await up.close();
    }
  });

  test('gracefulShutdown checks its options before installing a signal listener', async () => {
    const { app } = await startApp({});
    try {
      const before = process.listenerCount('SIGTERM');
      assert.throws(() => gracefulShutdown(app, { close: 'app.close', server: {} } as never), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: 'gracefulShutdown: close="app.close": must be a function (closing the app); server: unknown option',
      });
      assert.equal(process.listenerCount('SIGTERM'), before);
    } finally {
      await app.close();
    }
  });

  test('shedExempt matches in any case only when the app routes in any case (routerOptions.caseSensitive false)', async () => {
    for (const caseSensitive of [true, false]) {
      const { memory, monitor } = controlledMonitor();
      const app = Fastify({ routerOptions: { caseSensitive } });
      await app.register(headroom, { monitor, shedExempt: ['/webhooks'] });
      app.post('/webhooks/:id', async () => 'hook');
      await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      try {
        memory.setHeapRatio(0.9);
        monitor.sampleNow();
        assert.equal((await request(`${url}/webhooks/1`, { method: 'POST' })).status, 200);
        // Case-sensitive (Fastify's default): /WEBHOOKS/2 is another path, shed like any; otherwise the exempt route.
        assert.equal(
          (await request(`${url}/WEBHOOKS/2`, { method: 'POST' })).status,
          caseSensitive ? 503 : 200,
          `caseSensitive ${caseSensitive}`,
        );
        assert.equal(app.memory.shedding('/WEBHOOKS/2', 'POST'), caseSensitive);
      } finally {
        await app.close();
        await monitor.close();
      }
    }
  });

  test('sheds app routes with 503 + Retry-After while critical, leaves the hysteresis band before recovering', async () => {
    const { memory, monitor } = controlledMonitor();
    const up = await startUpstream((_req, res) => res.end('up'));
    const { app, url } = await startApp(
      { monitor, proxy: { upstreamUrl: up.url }, shedExempt: ['/__test'], retryAfter: 7, adminToken: ADMIN_TOKEN },
      (a) => {
        a.get('/__test/ping', async () => ({ ok: true }));
      },
    );
    try {
      assert.equal((await request(`${url}/app/hello`)).status, 200);
      memory.setHeapRatio(0.9);
      monitor.sampleNow();
      for (const path of ['/app/hello', '/api/x']) {
        const r = await request(`${url}${path}`);
        assert.equal(r.status, 503, path);
        assert.equal(r.headers['retry-after'], '7');
        assert.equal(r.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
      }
      assert.equal(up.received.length, 0);
      assert.equal((await request(`${url}/health/ready`)).status, 503);
      assert.equal((await request(`${url}/health`)).status, 503);
      assert.equal((await request(`${url}/health/live`)).status, 200);
      const host = new URL(url).host;
      const absolute = await rawRequest(url, `GET http://${host}/health/live HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(absolute.status, 200, `an absolute-form probe is never shed: ${absolute.text}`);
      assert.equal((await request(`${url}/metrics`)).status, 200);
      assert.equal((await request(`${url}/__test/ping`)).status, 200, 'shedExempt');
      const admin = await request(`${url}/admin/memory-stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(admin.status, 200, 'admin is never shed');
      assert.equal(app.memory.shedding('/app/hello'), true);
      assert.equal(app.memory.shedding('/__test/ping'), false);
      // Inside the band (critical 0.85, hysteresis 0.1): still critical.
      memory.setHeapRatio(0.8);
      monitor.sampleNow();
      assert.equal((await request(`${url}/app/hello`)).status, 503);
      memory.setHeapRatio(0.5);
      monitor.sampleNow();
      assert.equal((await request(`${url}/app/hello`)).status, 200);
      assert.equal((await request(`${url}/health/ready`)).status, 200);
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_shed_total 3$/m);
    } finally {
      await app.close();
      await monitor.close();
      await up.close();
    }
  });

  test('routes registered before the plugin are shed too', async () => {
    const { memory, monitor } = controlledMonitor();
    const app = Fastify();
    app.get('/early', async () => ({ early: true }));
    await app.register(headroom, { monitor });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      assert.equal((await request(`${url}/early`)).status, 503);
    } finally {
      await app.close();
      await monitor.close();
    }
  });

  test("while critical, requests are shed before the app's own hooks: its auth never runs, clients get 503", async () => {
    const { memory, monitor } = controlledMonitor();
    const up = await startUpstream((_req, res) => res.end('up'));
    const { app, url, authRuns } = await startApp({ monitor, proxy: { upstreamUrl: up.url } });
    try {
      assert.equal((await request(`${url}/app/hello`)).status, 200);
      assert.equal(authRuns(), 1);
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      for (const path of ['/app/hello', '/api/x', '/no-such-route']) {
        const r = await request(`${url}${path}`, { headers: { 'x-deny': '1' } });
        assert.equal(r.status, 503, `${path}: 503, not the auth hook's 401`);
        assert.equal(r.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
        assert.ok(Number(r.headers['retry-after']) > 0);
      }
      const head = await request(`${url}/app/hello`, { method: 'HEAD' });
      assert.equal(head.status, 503);
      // A shed upload: answered at once and the connection closed, not its 100 MB read and discarded.
      const upload = await rawRequest(
        url,
        `POST /app/hello HTTP/1.1\r\nHost: ${new URL(url).host}\r\nContent-Length: 100000000\r\n\r\n${'x'.repeat(1000)}`,
        () => false,
        5_000,
      );
      assert.equal(upload.status, 503);
      assert.match(upload.text, /\r\nconnection: close\r\n/i);
      assert.equal(upload.closed, true, 'the server closed the connection');
      assert.equal(authRuns(), 1, 'the auth hook did no work for a shed request');
      assert.equal(up.received.length, 0);
      // Probes and the scrape are the app's own business no more than they are shed.
      assert.equal((await request(`${url}/health/live`, { headers: { 'x-deny': '1' } })).status, 200);
      assert.equal((await request(`${url}/metrics/`)).status, 200, "a trailing slash is still headroom's route");
      assert.equal(authRuns(), 1, 'isOwnRoute let the probes past the auth hook');
    } finally {
      await app.close();
      await monitor.close();
      await up.close();
    }
  });

  test("Expect: 100-continue: 100 only once a body is read; refused by the app's auth hook or shed, the final status alone", async () => {
    const { memory, monitor } = controlledMonitor();
    const up = await startUpstream((_req, res) => res.end('stored'));
    const { app, url } = await startApp({ monitor, proxy: { upstreamUrl: up.url } });
    const head = (path: string, length: number, extra = ''): string =>
      `POST ${path} HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n${extra}\r\n`;
    try {
      const proxied = await uploadOnContinue(url, head('/api/up', 7), '"hello"');
      assert.ok(proxied.text.startsWith(CONTINUE), proxied.text);
      assert.match(proxied.text.slice(CONTINUE.length), /^HTTP\/1\.1 200 [^]*\r\n\r\nstored$/);
      await up.received[0]?.settled;
      assert.equal(up.received[0]?.bodyBytes, 7);
      const parsed = await uploadOnContinue(url, head('/app/echo', 7), '{"a":1}');
      assert.ok(parsed.text.startsWith(CONTINUE), parsed.text);
      assert.match(parsed.text, /\r\n\r\n\{"received":\{"a":1\}\}$/);
      // 1 MB announced and never sent: the client waits for a go-ahead that must not come.
      for (const path of ['/api/up', '/app/echo']) {
        const denied = await rawRequest(url, head(path, 1_000_000, 'x-deny: 1\r\n'), undefined, 5_000);
        assert.equal(denied.status, 401, `${path}: ${denied.text}`);
        assert.doesNotMatch(denied.text, /100 Continue/);
        assert.equal(denied.closed, true, path);
      }
      memory.setHeapRatio(0.9);
      monitor.sampleNow();
      const shed = await rawRequest(url, head('/app/echo', 1_000_000), undefined, 5_000);
      assert.equal(shed.status, 503, shed.text);
      assert.doesNotMatch(shed.text, /100 Continue/);
      assert.equal(shed.closed, true);
      assert.equal(up.received.length, 1, 'the upstream saw only the accepted upload');
    } finally {
      await app.close();
      await monitor.close();
      await up.close();
    }
  });

  test('routes in scopes created before the plugin, own routes mounted elsewhere; app.inject() bypasses the server', async () => {
    const { memory, monitor } = controlledMonitor();
    const app = Fastify();
    // An encapsulated scope loaded before headroom: no hook added later reaches it.
    void app.register(async (scope) => {
      scope.get('/scoped', async () => ({ scoped: true }));
    });
    await app.register(headroom, { monitor, healthPath: false });
    await app.register(healthRoutes, { headroom: app.headroom, prefix: '/internal/health' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      assert.equal((await request(`${url}/scoped`)).status, 200);
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      assert.equal((await request(`${url}/scoped`)).status, 503);
      assert.equal((await request(`${url}/internal/health/live`)).status, 200, "own routes at a path of the app's choosing");
      assert.equal((await request(`${url}/internal/health/ready`)).status, 503);
      // As documented: inject() calls Fastify's handler directly, past the server, so it is not shed
      // (an onRequest hook for it would cost every production request).
      assert.equal((await app.inject({ url: '/scoped' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/internal/health/ready' })).statusCode, 503);
      memory.setHeapRatio(0.3);
      monitor.sampleNow();
      assert.equal((await request(`${url}/scoped`)).status, 200);
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 0$/m);
    } finally {
      await app.close();
      await monitor.close();
    }
  });

  test('a server it cannot stand in front of (serverFactory, two request listeners): the onRequest hook sheds and counts', async () => {
    const { memory, monitor } = controlledMonitor();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const arrival = new Promise<void>((r) => (arrived = r));
    const app = Fastify({
      serverFactory: (handler) => {
        const server = http.createServer(handler);
        server.on('request', () => {}); // e.g. an access logger of the app's own
        return server;
      },
    });
    app.get('/app/slow', async () => {
      arrived();
      await released;
      return { ok: true };
    });
    app.get('/app/fast', async () => ({ ok: true }));
    await app.register(headroom, { monitor });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const slow = request(`${url}/app/slow`);
      await arrival;
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 1$/m);
      release();
      assert.equal((await slow).status, 200);
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      const shed = await request(`${url}/app/fast`);
      assert.equal(shed.status, 503);
      assert.ok(shed.headers['retry-after']);
      assert.equal((await request(`${url}/health/live`)).status, 200);
      memory.setHeapRatio(0.3);
      monitor.sampleNow();
      assert.equal((await request(`${url}/app/fast`)).status, 200);
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 0$/m);
    } finally {
      release();
      await app.close();
      await monitor.close();
    }
  });

  test('app.memory tells handlers the status, the current sample and whether requests are shed', async () => {
    const { memory, monitor } = controlledMonitor();
    const { app, url } = await startApp({ monitor }, (a) => {
      a.get('/app/memory', async (req) => ({
        status: req.server.memory.status(),
        heapUsed: req.server.memory.current().v8.usedHeapSize,
        shedding: req.server.memory.shedding(),
      }));
    });
    try {
      memory.setHeapRatio(0.75);
      monitor.sampleNow();
      assert.deepEqual((await request(`${url}/app/memory`)).json(), { status: 'warning', heapUsed: memory.heapUsed, shedding: false });
      assert.equal(app.memory.monitor, monitor);
      assert.equal(app.headroom.monitor, monitor);
    } finally {
      await app.close();
      await monitor.close();
    }
  });

  test('admin API: 403 without a token, 401 with a wrong one, 200 with the right one', async () => {
    const off = await startApp({});
    try {
      const r = await request(`${off.url}/admin/memory-stats`);
      assert.equal(r.status, 403);
      assert.equal(r.json().error.code, 'HEADROOM_ADMIN_DISABLED');
    } finally {
      await off.app.close();
    }
    const { app, url } = await startApp({ adminToken: ADMIN_TOKEN });
    try {
      const wrong = await request(`${url}/admin/memory-stats`, { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
      assert.equal(wrong.status, 401);
      assert.ok(wrong.headers['www-authenticate']);
      const ok = await request(`${url}/admin/memory-stats?x=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(ok.status, 200);
      assert.ok(ok.json().memory.heapLimit > 0);
      // A JSON content type on an operator action is not refused by a body parser.
      const gc = await request(`${url}/admin/gc`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      });
      assert.equal(gc.status, 200, gc.text);
      const wrongMethod = await request(`${url}/admin/gc`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(wrongMethod.status, 405);
    } finally {
      await app.close();
    }
  });

  test('an aborted request gives its in-flight slot back', async () => {
    const { app, url } = await startApp({}, (a) => {
      a.get('/app/hang', (_req, reply) => {
        reply.raw.once('close', () => undefined); // never answers; the client gives up
      });
    });
    try {
      const req = http.get(`${url}/app/hang`, { agent: false });
      req.on('error', () => undefined);
      await waitFor(async () => (await inFlight(url)) === 1, 'the request to be in flight');
      req.destroy();
      await waitFor(async () => (await inFlight(url)) === 0, 'the slot to be released');
    } finally {
      await app.close();
    }
  });

  test("a request is counted once, also when the app's async onRequest hook delays headroom's", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { memory, monitor } = controlledMonitor();
    const app = Fastify();
    // Added before the plugin: headroom's fallback hook runs after this one resolves, outside the
    // server listener's call, and must still know the listener counted the request.
    app.addHook('onRequest', async () => {
      await new Promise((resolve) => setImmediate(resolve));
    });
    await app.register(headroom, { monitor });
    app.get('/app/held', async () => {
      await held;
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const pending = request(`${url}/app/held`);
      await waitFor(async () => (await inFlight(url)) === 1, 'the request to be in flight');
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
      assert.equal(await inFlight(url), 1, 'counted once, not again by the hook');
      release();
      assert.equal((await pending).status, 200);
      await waitFor(async () => (await inFlight(url)) === 0, 'the slot to be released');
      memory.setHeapRatio(0.95);
      monitor.sampleNow();
      assert.equal((await request(`${url}/app/held`)).status, 503);
      assert.equal((await request(`${url}/metricz`)).status, 503, 'a first segment only as long as an own one');
      // Own routes are told apart generously (case, duplicate and trailing slashes): never shed,
      // whatever Fastify's router then makes of the URL (here 404: its routes are case-sensitive).
      assert.equal((await request(`${url}/health/live`)).status, 200);
      for (const path of ['/HEALTH/Live', '/health//live/', '//Metrics', '/ADMIN/memory-stats']) {
        assert.notEqual((await request(`${url}${path}`)).status, 503, path);
      }
    } finally {
      await app.close();
      await monitor.close();
    }
  });

  test('proxyHandler behind a JSON body parser answers 500 HEADROOM_BODY_CONSUMED and never calls the upstream', async () => {
    const up = await startUpstream((req, res) => res.end(JSON.stringify({ url: req.url })));
    const { app, url } = await startApp({ proxy: { upstreamUrl: up.url } }, (a) => {
      a.all('/parsed-api/*', proxyHandler(a.headroom.proxy!));
    });
    try {
      const r = await request(`${url}/parsed-api/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(r.status, 500);
      assert.equal(r.json().error.code, 'HEADROOM_BODY_CONSUMED');
      assert.equal(up.received.length, 0);
      // Without a body it proxies, its mount standing in for the prefix.
      assert.deepEqual((await request(`${url}/parsed-api/echo?x=4`)).json(), { url: '/echo?x=4' });
    } finally {
      await app.close();
      await up.close();
    }
  });

  test("a hook that listens to the body's 'data' before the proxy: 500 HEADROOM_BODY_CONSUMED, never an empty body upstream", async () => {
    const up = await startUpstream((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
    });
    const { app, url } = await startApp({ proxy: { upstreamUrl: up.url } }, (a) => {
      // A request-body logger: listens, and lets the request go on at once.
      a.addHook('onRequest', (request, _reply, done) => {
        if (request.headers['x-log-body'] === '1') request.raw.on('data', () => undefined);
        done();
      });
    });
    try {
      const logged = await request(`${url}/api/up`, { method: 'POST', headers: { 'x-log-body': '1' }, body: 'b'.repeat(5000) });
      assert.equal(logged.status, 500, logged.text);
      assert.equal(logged.json().error.code, 'HEADROOM_BODY_CONSUMED');
      assert.equal(up.received.length, 0, 'the upstream was never called');
      const plain = await request(`${url}/api/up`, { method: 'POST', body: 'b'.repeat(5000) });
      assert.equal(plain.text, '5000');
    } finally {
      await app.close();
      await up.close();
    }
  });

  test('decorating twice is refused, options are checked', async () => {
    const app = Fastify();
    await app.register(headroom, {});
    await assert.rejects(async () => void (await app.register(headroom, {})), /already|memory|headroom/i);
    await app.close();
    const bad = Fastify();
    await assert.rejects(
      async () => void (await bad.register(headroom, { healthPath: 'health' as never })),
      /healthPath="health": must be a path like \/health/,
    );
    await bad.close();
  });

  test("misspelt options are refused with a \"did you mean\" among the plugin's and createHeadroom's; Fastify's own are taken", async () => {
    for (const [options, message] of [
      [{ helthPath: '/h' }, 'headroom (Fastify plugin): helthPath: unknown option; did you mean healthPath?'],
      [{ adminTokn: 'x' }, 'headroom (Fastify plugin): adminTokn: unknown option; did you mean adminToken?'],
      [{ monitor: { critical: 0.9 } }, 'headroom (Fastify plugin): monitor.critical: unknown option; did you mean criticalThreshold?'],
      [
        { proxy: {} },
        'headroom (Fastify plugin): proxy.upstreamUrl is required: must be an absolute http or https URL without user:password@',
      ],
      // Not Fastify's FST_ERR_DUPLICATED_ROUTE with a dump of methods: the options that clash, by name.
      [
        { healthPath: '/x', metricsPath: '/x' },
        'headroom (Fastify plugin): healthPath="/x" and metricsPath="/x" claim the same path: each of headroom\'s routes needs a path of its own (or false to leave one out)',
      ],
      [
        { proxy: { upstreamUrl: 'http://127.0.0.1:9', prefix: '/health' } },
        'headroom (Fastify plugin): healthPath="/health" and proxy.prefix="/health" claim the same path: each of headroom\'s routes needs a path of its own (or false to leave one out)',
      ],
    ] as const) {
      const app = Fastify();
      await assert.rejects(async () => void (await app.register(headroom, options as never)), { code: 'HEADROOM_CONFIG_INVALID', message });
      await app.close();
    }
    const app = Fastify();
    await app.register(headroom, { logLevel: 'warn', healthPath: '/hc' } as never);
    await app.ready();
    assert.equal((await app.inject('/hc/live')).statusCode, 200);
    await app.close();
  });

  test('over HTTP/2 (h2c) each request of the app counts until its response closes; own routes never count', async () => {
    await assertNoLeakedHandles(async () => {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      // No session timeout: on Node 20 a closed session's timeout timer is left to fire (unref'd),
      // Fastify's and Node's handle, not headroom's, which the handle check would report.
      const app = Fastify({ http2: true, http2SessionTimeout: 0 });
      await app.register(headroom, {});
      app.get('/app/held', async () => {
        await held;
        return { ok: true };
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const sessionClosed: Promise<unknown>[] = [];
      app.server.on('session', (session: http2.ServerHttp2Session) => sessionClosed.push(once(session, 'close')));
      const client = http2.connect(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
      const get = (path: string): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          const stream = client.request({ ':path': path });
          let status = 0;
          let body = '';
          stream.setEncoding('utf8');
          stream.on('response', (headers) => (status = Number(headers[':status'])));
          stream.on('data', (chunk: string) => (body += chunk));
          stream.on('end', () => resolve({ status, body }));
          stream.on('error', reject);
          stream.end();
        });
      // The scrape is an own route: it would read 2 while the held request is in flight if it counted itself.
      const inFlight = async (): Promise<number> =>
        Number(/^headroom_app_requests_in_flight (\d+)$/m.exec((await get('/metrics')).body)?.[1]);
      try {
        assert.equal(await inFlight(), 0);
        const pending = get('/app/held');
        await waitFor(async () => (await inFlight()) === 1, 'the held request to count');
        assert.equal((await get('/health/ready')).status, 200);
        assert.equal(await inFlight(), 1, 'a probe does not count');
        release();
        assert.deepEqual(await pending, { status: 200, body: '{"ok":true}' });
        await waitFor(async () => (await inFlight()) === 0, 'the slot to be released');
      } finally {
        release();
        client.close();
        await Promise.all(sessionClosed);
        await app.close();
      }
    });
  });

  test('closing the app leaves no active handle', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await startUpstream((_req, res) => res.end('up'));
      const { app, url } = await startApp({ proxy: { upstreamUrl: up.url }, adminToken: ADMIN_TOKEN, cache: {} });
      assert.equal((await request(`${url}/api/x`)).status, 200);
      assert.equal((await request(`${url}/metrics`)).status, 200);
      assert.equal((await request(`${url}/app/hello`)).status, 200);
      await app.close();
      await up.close();
    });
  });

  test(
    'app.close() with a proxied download that never ends: done within the proxy closeTimeout, nothing left',
    { timeout: 30_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        // An upstream that sends a byte every 100 ms for ever: never idle, so no stream timeout cuts it.
        const timers = new Set<NodeJS.Timeout>();
        const up = await startUpstream((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const t = setInterval(() => res.write('x'), 100);
          timers.add(t);
          res.once('close', () => (clearInterval(t), timers.delete(t)));
        });
        const { app, url } = await startApp({ proxy: { upstreamUrl: up.url, closeTimeout: 500 }, monitor: { autoStart: false } });
        const client = http.get(`${url}/api/drip`);
        client.on('error', () => undefined);
        const response = await new Promise<http.IncomingMessage>((resolve) => client.once('response', resolve));
        response.on('error', () => undefined);
        response.resume();
        await new Promise((resolve) => response.once('data', resolve));
        const t0 = performance.now();
        await app.close();
        const ms = performance.now() - t0;
        assert.ok(ms < 5_000, `app.close() took ${ms.toFixed(0)} ms (closeTimeout 500 ms)`);
        client.destroy();
        for (const t of timers) clearInterval(t);
        await up.close();
      });
    },
  );

  test('docs/frameworks/fastify.md lists every plugin option as declared', () => {
    const doc = readFileSync(new URL('../../../docs/frameworks/fastify.md', import.meta.url), 'utf8');
    for (const [key, s] of Object.entries(fastifyPluginSpecs)) {
      const row = `| \`${key}\` | ${s.defaultText} | ${s.doc} |`;
      assert.ok(doc.includes(row), `missing or stale row: ${row}`);
    }
  });
});
