// /admin/*: rate limit, then bearer auth, then the operator endpoints. Parts add their own admin
// routes (cache-stats, proxy-stats, …) through `extra`, inside this authenticated scope.
import type { FastifyInstance } from 'fastify';
import type { MemoryMonitor } from '../../monitor/types.js';
import type { Cache } from '../../cache/types.js';
import { createAdminAuth } from '../../toolkit/auth.js';
import { createRateLimiter, enforceRateLimit } from '../../toolkit/rate-limit.js';
import { scopeNotFound } from '../error-handler.js';
import { collectGarbage, memoryStats } from '../../toolkit/admin.js';

export interface AdminRouteOptions {
  token: string | undefined;
  rateLimit: number;
  monitor: MemoryMonitor;
  cache?: Cache;
  extra: ((app: FastifyInstance) => Promise<void> | void)[];
}

export async function adminRoutes(app: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  const limiter = createRateLimiter({ limit: options.rateLimit, windowMs: 60_000 });
  const authenticate = createAdminAuth(options.token);
  const { monitor, cache } = options;

  // Rate limiting comes first so that guessing tokens is throttled too.
  app.addHook('onRequest', async (request) => {
    enforceRateLimit(limiter, request.ip);
    authenticate(request.headers.authorization);
  });
  // Unknown paths and wrong methods under /admin answer only after the hook above.
  scopeNotFound(app);

  app.get('/memory-stats', async () => memoryStats(monitor, cache));

  app.post('/heap-snapshot', async (_request, reply) => {
    const result = await monitor.writeHeapSnapshot();
    return reply.code(201).send(result);
  });

  app.post('/gc', async () => collectGarbage(monitor));

  for (const register of options.extra) await register(app);
}
