// GET /health (full report, 503 when critical), /health/live and /health/ready (Kubernetes probes).
import type { FastifyInstance } from 'fastify';
import type { HealthReport, MemoryMonitor } from '../../monitor/types.js';

export interface HealthRouteOptions {
  monitor: MemoryMonitor;
  isDraining: () => boolean;
}

export async function healthRoutes(app: FastifyInstance, { monitor, isDraining }: HealthRouteOptions): Promise<void> {
  // report() returns the same object until the next sample, so serialise it once per sample:
  // probes and scrapers may hit /health far more often than the monitor samples.
  let lastReport: HealthReport | undefined;
  let lastBody = '';
  app.get('/health', async (_request, reply) => {
    const report = monitor.report();
    if (report !== lastReport) {
      lastReport = report;
      lastBody = JSON.stringify(report);
    }
    return reply
      .code(report.status === 'critical' ? 503 : 200)
      .header('cache-control', 'no-store')
      .header('content-type', 'application/json; charset=utf-8')
      .send(lastBody);
  });

  // Liveness only says the event loop answers; restarting on memory pressure is the breaker's job.
  app.get('/health/live', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  app.get('/health/ready', async (_request, reply) => {
    const status = monitor.status();
    const draining = isDraining();
    const ready = !draining && status !== 'critical';
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ready' : 'not-ready', memory: status, draining });
  });
}
