// bench/adapters: a Fastify app with one JSON route, bare or with headroom's plugin registered the
// way docs/frameworks/fastify.md shows (monitor with its default sample interval, shedding, health,
// metrics and admin routes, in-flight counting). BENCH_VARIANT=bare|headroom; BENCH_DEFAULT_METRICS=0
// leaves the Node.js process metrics out. BENCH_WITHOUT=gate,monitor (with headroom) switches parts off
// after registering: the reference side of a part-by-part comparison (bench/adapters --base), so one
// part's cost is measured against headroom without it, in the same seconds.
import Fastify from 'fastify';
import type * as FastifyAdapter from '../../../src/adapters/fastify/index.js';
import { loadHeadroom } from './headroom.js';
import { benchWithout } from './parts.js';

const without = benchWithout();

const app = Fastify({ logger: false });
// Fastify's own request listener, put back in place of headroom's gate (shedding and in-flight count) for BENCH_WITHOUT=gate.
const fastifyListener = app.server.listeners('request')[0] as (...args: unknown[]) => void;
if (process.env.BENCH_VARIANT === 'headroom') {
  const { headroom } = await loadHeadroom<typeof FastifyAdapter>('adapters/fastify/index.js');
  await app.register(headroom, { defaultMetrics: process.env.BENCH_DEFAULT_METRICS !== '0' });
  if (without.has('gate')) {
    app.server.removeAllListeners('request');
    app.server.on('request', fastifyListener);
  }
  if (without.has('monitor')) app.headroom.monitor.stop(); // sampling, event-loop probe, GC observer
}

app.get('/app/hello', async () => ({ hello: 'world' }));

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
console.log(`HEADROOM_FIXTURE_LISTENING ${address}`);
