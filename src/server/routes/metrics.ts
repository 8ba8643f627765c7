// GET /metrics: Prometheus text exposition from the gateway's own registry; with METRICS_TOKEN
// only for a scraper sending it as a bearer token (401 otherwise, before any exposition is built).
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { exposition } from '../../metrics/exposition.js';
import { bearerMatcher, unauthorized } from '../../toolkit/auth.js';

export async function metricsRoutes(app: FastifyInstance, { registry, token }: { registry: Registry; token?: string }): Promise<void> {
  const matches = token === undefined ? undefined : bearerMatcher(token);
  app.get('/metrics', async (request, reply) => {
    if (matches && !matches(request.headers.authorization)) throw unauthorized('metrics', request.headers.authorization);
    const text = await exposition(registry);
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(text);
  });
}
