// Cache admin routes (the gateway mounts this plugin under /admin after auth):
// GET /cache-stats, POST /cache/clear, POST /cache/invalidate?tag=
import type { FastifyInstance } from 'fastify';
import type { Cache } from '../../cache/types.js';
import { parseTag } from '../../toolkit/admin.js';

export interface CacheRouteOptions {
  cache: Cache;
}

export async function cacheAdminRoutes(app: FastifyInstance, { cache }: CacheRouteOptions): Promise<void> {
  app.get('/cache-stats', async (_request, reply) => {
    const stats = cache.stats();
    return reply.header('cache-control', 'no-store').send({ ...stats, topKeys: cache.topKeys(10) });
  });

  app.post('/cache/clear', async (_request, reply) => {
    await cache.invalidateAll();
    return reply.header('cache-control', 'no-store').send({ cleared: true });
  });

  app.post('/cache/invalidate', async (request, reply) => {
    const tag = parseTag(new URL(request.url, 'http://localhost').searchParams);
    await cache.invalidateByTag(tag);
    return reply.header('cache-control', 'no-store').send({ invalidated: { tag } });
  });
}
