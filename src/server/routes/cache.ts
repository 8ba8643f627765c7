// Cache admin routes (the gateway mounts this plugin under /admin after auth):
// GET /cache-stats, POST /cache/clear, POST /cache/invalidate?tag=
import type { FastifyInstance } from 'fastify';
import type { Cache } from '../../cache/types.js';
import { HeadroomError } from '../../errors.js';

export interface CacheRouteOptions {
  cache: Cache;
}

export const MAX_TAG_LENGTH = 256;

/** The one tag from ?tag=, or a 400 that says what is accepted. */
export function parseTag(query: unknown): string {
  const raw = (query as Record<string, unknown> | undefined)?.tag;
  if (raw === undefined || raw === '')
    throw new HeadroomError('HEADROOM_BAD_REQUEST', 'query parameter "tag" is required, e.g. POST /admin/cache/invalidate?tag=users');
  if (typeof raw !== 'string') throw new HeadroomError('HEADROOM_BAD_REQUEST', 'query parameter "tag" must be given once');
  // eslint-disable-next-line no-control-regex
  if (raw.length > MAX_TAG_LENGTH || /[\u0000-\u001f\u007f]/.test(raw)) {
    throw new HeadroomError(
      'HEADROOM_BAD_REQUEST',
      `query parameter "tag" must be 1 to ${MAX_TAG_LENGTH} characters without control characters`,
    );
  }
  return raw;
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
    const tag = parseTag(request.query);
    await cache.invalidateByTag(tag);
    return reply.header('cache-control', 'no-store').send({ invalidated: { tag } });
  });
}
