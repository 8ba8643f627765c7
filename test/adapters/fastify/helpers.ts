// Real Fastify apps with the headroom plugin, an upstream that records what reached it, and a
// monitor whose heap the test sets.
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { headroom, isOwnRoute, type FastifyHeadroomOptions } from '../../../src/adapters/fastify/index.js';
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import type { MemoryMonitor } from '../../../src/monitor/types.js';
import { fakeMemory, type FakeMemory } from '../../monitor/helpers.js';

export const ADMIN_TOKEN = 'fastify-admin-token-0123456789';

/** A monitor that does not sample by itself: set the heap, then call sampleNow(). */
export function controlledMonitor(): { memory: FakeMemory; monitor: MemoryMonitor } {
  const memory = fakeMemory();
  const monitor = createMemoryMonitor({
    sampler: memory.sampler,
    autoStart: false,
    warningThreshold: 0.7,
    criticalThreshold: 0.85,
    hysteresis: 0.1,
  });
  return { memory, monitor };
}

/**
 * The app a user would write, as docs/frameworks/fastify.md shows it: an onRequest auth hook of its
 * own (x-deny: 1 → 401) that lets headroom's own routes through (isOwnRoute: health, metrics,
 * admin), then headroom, then its routes. `authRuns` counts the hook's calls.
 */
export async function startApp(
  options: FastifyHeadroomOptions,
  routes: (app: FastifyInstance) => void | Promise<void> = () => undefined,
): Promise<{ app: FastifyInstance; url: string; authRuns: () => number }> {
  const app = Fastify();
  let runs = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (isOwnRoute(request)) return;
    runs++;
    if (request.headers['x-deny'] === '1') return reply.code(401).send({ error: 'denied by app' });
  });
  await app.register(headroom, options);
  app.get('/app/hello', async () => ({ hello: 'world' }));
  app.post('/app/echo', async (request) => ({ received: request.body }));
  await routes(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, authRuns: () => runs };
}
