// A gateway app (the real buildApp and the gateway's dashboard plugins) around a memory monitor the
// test drives: fakeMemory sets the heap the monitor sees, so the status turns critical on demand.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../../src/config/index.js';
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import type { MemoryMonitor } from '../../../src/monitor/types.js';
import { createDashboard, type Dashboard, type DashboardFrame, type DashboardOptions } from '../../../src/observe/dashboard/index.js';
import { buildApp } from '../../../src/server/app.js';
import { createLogger } from '../../../src/server/logger.js';
import { dashboardAdminRoutes, dashboardRoutes } from '../../../src/server/routes/dashboard.js';
import { fakeMemory, type FakeMemory } from '../../monitor/helpers.js';

export const TOKEN = 'dashboard-test-token-0123456789';
export const auth = { authorization: `Bearer ${TOKEN}` };

export interface DashboardApp {
  app: FastifyInstance;
  url: string;
  mem: FakeMemory;
  monitor: MemoryMonitor;
  dashboard: Dashboard;
  close(): Promise<void>;
}

export async function startDashboardApp(
  options: Partial<Omit<DashboardOptions, 'monitor'>> = {},
  env: Record<string, string> = {},
): Promise<DashboardApp> {
  const { config } = loadConfig({ env: { PORT: '0', LOG_LEVEL: 'silent', HEADROOM_ADMIN_TOKEN: TOKEN, ...env } });
  const mem = fakeMemory(512 * 1024 * 1024);
  const monitor = createMemoryMonitor({ sampler: mem.sampler, sampleInterval: 100, historyInterval: 0, rssLimit: null });
  const dashboard = createDashboard({ monitor, apiBase: 'admin/', ...options });
  const app = await buildApp({
    config,
    logger: createLogger('silent'),
    monitor,
    registry: new Registry(),
    isDraining: () => false,
    // As in the gateway: every answer carries X-Request-Id (the access log and metrics are not looked at here).
    observer: { begin: () => undefined, cacheOutcome: () => undefined, rejected: () => undefined },
    routes: [(s) => dashboardRoutes(s, { dashboard })],
    adminRoutes: [(s) => dashboardAdminRoutes(s, { dashboard })],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  return {
    app,
    url,
    mem,
    monitor,
    dashboard,
    close: () =>
      (closed ??= (async () => {
        await app.close();
        await dashboard.close();
        await monitor.close();
      })()),
  };
}

export interface OpenFeed {
  status: number;
  headers: IncomingHttpHeaders;
  /** Frames parsed so far (NDJSON lines). */
  frames: DashboardFrame[];
  /** The body of a refusal (not 200). */
  body: string;
  close(): void;
}

/** Opens GET `url` (the live feed) and keeps reading frames until close(). */
export function openFeed(url: string, headers: Record<string, string> = auth): Promise<OpenFeed> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      const feed: OpenFeed = { status: res.statusCode ?? 0, headers: res.headers, frames: [], body: '', close: () => req.destroy() };
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (feed.status !== 200) return void (feed.body += chunk);
        pending += chunk;
        let nl;
        while ((nl = pending.indexOf('\n')) !== -1) {
          feed.frames.push(JSON.parse(pending.slice(0, nl)) as DashboardFrame);
          pending = pending.slice(nl + 1);
        }
      });
      res.on('error', () => undefined);
      if (feed.status === 200) resolve(feed);
      else res.on('end', () => resolve(feed));
    });
    req.on('error', reject);
    req.end();
  });
}
