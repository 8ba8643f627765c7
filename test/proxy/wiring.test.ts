// The exact gateway wiring (as reported to the lead) through the real buildApp: proxy on the raw
// path and through inject(), /admin/proxy-stats behind the admin token, headroom_proxy_* on /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/index.js';
import { buildApp } from '../../src/server/app.js';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { createAdmission, createProxy } from '../../src/proxy/index.js';
import { proxyRoutes, proxyAdminRoutes } from '../../src/server/routes/proxy.js';
import { registerProxyMetrics } from '../../src/metrics/proxy.js';
import { createLogger } from '../../src/server/logger.js';
import { request, startUpstream } from './helpers.js';
import type { AddressInfo } from 'node:net';

test('proxy, admin stats and metrics wired through buildApp from config.proxy.*', async () => {
  const up = await startUpstream((req, res) => res.end(`hi ${req.url}`));
  const { config } = loadConfig({
    env: { PORT: '0', LOG_LEVEL: 'silent', UPSTREAM_URL: up.url, HEADROOM_ADMIN_TOKEN: 'adm-token-1234567890abcdef' },
  });
  const monitor = createMemoryMonitor({ ...config.monitor });
  const p = config.proxy;
  const admission = createAdmission({
    maxConcurrent: p.maxConcurrent,
    queueSize: p.queueSize,
    queueTimeout: p.queueTimeout,
    memoryThresholdPercent: p.memoryThresholdPercent,
    monitor,
  });
  const proxy = createProxy({
    upstreamUrl: up.url,
    upstreamToken: p.upstreamToken,
    prefix: p.prefix,
    stripPrefix: p.stripPrefix,
    enabled: p.enabled,
    admission,
    streamTimeout: p.streamTimeout,
    maxBufferSize: p.maxBufferSize,
    cacheAuthorized: p.cacheAuthorized,
    trustForwarded: p.trustForwarded,
    monitor,
  });
  const registry = new Registry();
  registerProxyMetrics(registry, proxy);
  const app = await buildApp({
    config,
    logger: createLogger('silent'),
    monitor,
    registry,
    isDraining: () => false,
    routes: [(s) => proxyRoutes(s, { proxy })],
    adminRoutes: [(s) => proxyAdminRoutes(s, { proxy })],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  try {
    assert.equal((await request(`${url}/api/x?y=1`)).body.toString(), 'hi /x?y=1');
    const stats = await request(`${url}/admin/proxy-stats`, { headers: { authorization: 'Bearer adm-token-1234567890abcdef' } });
    assert.equal(stats.status, 200, stats.body.toString());
    assert.equal(JSON.parse(stats.body.toString()).requests, 1);
    const m = await request(`${url}/metrics`);
    assert.match(m.body.toString(), /headroom_proxy_requests_total 1/);
    assert.equal((await request(`${url}/health/live`)).status, 200);
    const inj = await app.inject({ url: '/api/z' });
    assert.equal(inj.body, 'hi /z');
  } finally {
    await app.close();
    await admission.close();
    await proxy.close();
    await monitor.close();
    await up.close();
  }
});
