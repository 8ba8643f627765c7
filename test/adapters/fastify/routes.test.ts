// Where the plugin's routes live and which requests count as headroom's own: the app's routes
// under headroom's paths are the app's (shed while critical), absolute-form admin targets, the
// register prefix and logLevel, and a prom-client registry reused by the next app.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import PromRegistry from 'prom-client/lib/registry.js';
import { headroom } from '../../../src/adapters/fastify/index.js';
import { request } from '../../helpers/http.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { startUpstream } from '../../proxy/helpers.js';
import { ADMIN_TOKEN, controlledMonitor, startApp } from './helpers.js';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('Fastify plugin routes', () => {
  test("the app's routes under headroom's paths are the app's: shed while critical, before or after the plugin", async () => {
    const { memory, monitor } = controlledMonitor();
    const app = Fastify();
    app.get('/admin/reports', async () => ({ heavy: 'report' })); // before the plugin
    await app.register(headroom, { monitor, adminToken: ADMIN_TOKEN });
    app.get('/admin/users/:id', async () => ({ user: true }));
    app.get('/admin/files/*', async () => ({ file: true }));
    app.post('/health', async () => ({ posted: true })); // headroom's /health is GET only
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      assert.equal((await request(`${url}/admin/reports`)).status, 200);
      memory.setHeapRatio(0.9);
      monitor.sampleNow();
      for (const [method, path] of [
        ['GET', '/admin/reports'],
        ['GET', '/admin/users/7'],
        ['GET', '/admin/files/a/b'],
        ['POST', '/health'],
      ] as const) {
        const r = await request(`${url}${path}`, { method });
        assert.equal(r.status, 503, `${method} ${path} is the app's: ${r.text}`);
        assert.equal(r.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
        assert.equal(app.memory.shedding(path, method), true, `memory.shedding(${path}, ${method})`);
      }
      // What handlers ask: headroom's own routes are never shed (GET unless told).
      for (const path of ['/health', '/health/live', '/metrics', '/admin/memory-stats'])
        assert.equal(app.memory.shedding(path), false, `memory.shedding(${path})`);
      assert.equal(app.memory.shedding('/health', 'head'), false);
      // headroom's own still answer, in the forms a probe or an operator sends.
      assert.equal((await request(`${url}/admin/memory-stats`, { headers: auth })).status, 200);
      assert.equal((await request(`${url}/admin/memory-stats?x=1`, { headers: auth })).status, 200);
      assert.equal((await request(`${url}/health/live`)).status, 200);
      assert.equal((await request(`${url}/health/live`, { method: 'HEAD' })).status, 200);
      assert.equal((await request(`${url}/metrics`)).status, 200);
    } finally {
      await app.close();
      await monitor.close();
    }
  });

  test('an absolute-form admin request (GET http://host/admin/…) is answered as its path', async () => {
    const { app, url } = await startApp({ adminToken: ADMIN_TOKEN, monitor: { autoStart: false } });
    try {
      const host = new URL(url).host;
      const r = await rawRequest(
        url,
        `GET http://${host}/admin/memory-stats HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /"status":"healthy"/);
    } finally {
      await app.close();
    }
  });

  test('the register prefix goes before every route of the plugin; a bad one is refused', async () => {
    const { memory, monitor } = controlledMonitor();
    const up = await startUpstream((req, res) => res.end(`up ${req.url}`));
    const app = Fastify();
    await app.register(headroom, { prefix: '/ops', monitor, adminToken: ADMIN_TOKEN, proxy: { upstreamUrl: up.url } } as never);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      assert.equal((await request(`${url}/ops/health/live`)).status, 200);
      assert.equal((await request(`${url}/health/live`)).status, 404);
      assert.equal((await request(`${url}/ops/metrics`)).status, 200);
      assert.equal((await request(`${url}/ops/admin/memory-stats`, { headers: auth })).status, 200);
      assert.equal((await request(`${url}/ops/api/x?y=1`)).text, 'up /x?y=1');
      memory.setHeapRatio(0.9);
      monitor.sampleNow();
      assert.equal((await request(`${url}/ops/health/live`)).status, 200, 'own routes under the prefix are not shed');
      assert.equal((await request(`${url}/ops/api/x`)).status, 503);
    } finally {
      await app.close();
      await monitor.close();
      await up.close();
    }
    const bad = Fastify();
    await assert.rejects(async () => void (await bad.register(headroom, { prefix: 'ops' } as never)), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /prefix="ops": must be a path like \/ops/,
    });
    await bad.close();
  });

  test("the register logLevel is the level of the plugin's routes", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const app = Fastify({ logger: { level: 'info', stream } });
    await app.register(headroom, { logLevel: 'silent', monitor: { autoStart: false } } as never);
    app.get('/app/hello', async () => 'hi');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      lines.length = 0;
      assert.equal((await request(`${url}/health/live`)).status, 200);
      assert.equal((await request(`${url}/metrics`)).status, 200);
      assert.equal(lines.length, 0, `no request log line for the silent routes: ${lines.join('')}`);
      assert.equal((await request(`${url}/app/hello`)).status, 200);
      assert.ok(
        lines.some((l) => l.includes('request completed')),
        "the app's routes keep the app's level",
      );
    } finally {
      await app.close();
    }
  });

  test('a registry of the app: one app at a time on it, and each close gives it back as it was', async () => {
    const registry = new PromRegistry();
    for (let i = 0; i < 2; i++) {
      const app = Fastify();
      await app.register(headroom, { registry, monitor: { autoStart: false } });
      const second = Fastify();
      await assert.rejects(async () => void (await second.register(headroom, { registry, monitor: { autoStart: false } })), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: /registry: this registry already holds the metrics of another headroom still open: close that one first/,
      });
      await second.close();
      await app.close();
      assert.deepEqual(
        registry.getMetricsAsArray().map((m) => m.name),
        [],
        `closed app #${i + 1} left its metrics`,
      );
    }
  });
});
