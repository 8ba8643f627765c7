// bench/adapters: a Fastify app with one JSON route, bare or with headroom's plugin registered the
// way docs/frameworks/fastify.md shows (monitor with its default sample interval, shedding, health,
// metrics and admin routes, in-flight counting). BENCH_VARIANT=bare|headroom; BENCH_DEFAULT_METRICS=0
// leaves the Node.js process metrics out.
import Fastify from 'fastify';
import { headroom } from '../../../src/adapters/fastify/index.js';

const app = Fastify({ logger: false });
if (process.env.BENCH_VARIANT === 'headroom') await app.register(headroom, { defaultMetrics: process.env.BENCH_DEFAULT_METRICS !== '0' });

app.get('/app/hello', async () => ({ hello: 'world' }));

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
console.log(`HEADROOM_FIXTURE_LISTENING ${address}`);
