// The peer of bench/footprint: a plain Fastify app with one route, default options (logger off).
// Prints {"url":…} once listening.
import Fastify from 'fastify';

const app = Fastify();
app.get('/', async () => ({ hello: 'world' }));
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url })}\n`);
