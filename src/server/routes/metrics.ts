// GET /metrics: Prometheus text exposition from the gateway's own registry.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { exposition } from '../../metrics/exposition.js';

export async function metricsRoutes(app: FastifyInstance, { registry }: { registry: Registry }): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const text = await exposition(registry);
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(text);
  });
}
