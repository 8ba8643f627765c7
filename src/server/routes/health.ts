// GET /health (full report, 503 when critical), /health/live and /health/ready (Kubernetes probes),
// answered by the toolkit's responder that every adapter uses too.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { MemoryMonitor } from '../../monitor/types.js';
import { createHealthResponder } from '../../toolkit/health.js';
import type { PlainResponse } from '../../toolkit/response.js';

export interface HealthRouteOptions {
  monitor: MemoryMonitor;
  isDraining: () => boolean;
}

const send = (reply: FastifyReply, r: PlainResponse): FastifyReply => reply.code(r.status).headers(r.headers).send(r.body);

export async function healthRoutes(app: FastifyInstance, { monitor, isDraining }: HealthRouteOptions): Promise<void> {
  const responder = createHealthResponder(monitor, isDraining);
  app.get('/health', async (_request, reply) => send(reply, responder.health()));
  app.get('/health/live', async (_request, reply) => send(reply, responder.live()));
  app.get('/health/ready', async (_request, reply) => send(reply, responder.ready()));
}
