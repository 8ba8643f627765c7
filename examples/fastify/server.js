// A Fastify app with headroom. Start it with
//   UPSTREAM_URL=http://127.0.0.1:8080 PORT=3000 npm start
// and try (the app's own auth wants x-api-key, APP_API_KEY or "dev-key"):
//   curl -H 'x-api-key: dev-key' localhost:3000/api/anything   → streamed to UPSTREAM_URL/anything
//   curl -H 'x-api-key: dev-key' -H 'content-type: application/json' -d '{"text":"hi"}' localhost:3000/notes
//   curl localhost:3000/health    curl localhost:3000/metrics
import Fastify from 'fastify';
import { gracefulShutdown, headroom, isOwnRoute } from 'headroom-memory/fastify';

const upstreamUrl = process.env.UPSTREAM_URL || undefined; // unset: the app starts without the /api/* proxy
const apiKey = process.env.APP_API_KEY || 'dev-key';

const app = Fastify({ logger: { level: process.env.LOG_LEVEL || 'info' } });

// The app's auth, registered before headroom so it also runs for the proxied /api/* routes.
// headroom's own routes pass: probes and the Prometheus scrape send no credentials, /admin/* has
// headroom's own bearer token. (While memory is critical, requests are shed before this hook.)
app.addHook('onRequest', async (request, reply) => {
  if (isOwnRoute(request)) return;
  if (request.headers['x-api-key'] !== apiKey) return reply.code(401).send({ error: 'missing or wrong x-api-key' });
});

await app.register(headroom, {
  // ANY /api/* → UPSTREAM_URL/*, streamed; the app's own key is not passed on to the upstream.
  proxy: upstreamUrl ? { upstreamUrl, dropHeaders: ['x-api-key'] } : undefined,
  adminToken: process.env.HEADROOM_ADMIN_TOKEN || undefined, // unset or empty: /admin/* answers 403
});

// A route of the app's own, behind Fastify's JSON body parser.
app.post('/notes', async (request, reply) => {
  const { text } = request.body ?? {};
  if (typeof text !== 'string') return reply.code(400).send({ error: 'send {"text": "…"}' });
  return reply.code(201).send({ saved: { text, at: new Date().toISOString() }, memory: app.memory.status() });
});

await app.listen({ port: Number(process.env.PORT || 3000), host: process.env.HOST || '127.0.0.1' });
app.log.info(upstreamUrl ? `proxying /api/* to ${upstreamUrl}` : 'UPSTREAM_URL is not set: /api/* is not proxied');
// SIGTERM/SIGINT: readiness 503, in-flight requests finish, then the app and headroom close.
gracefulShutdown(app, { log: (message, error) => app.log.info({ err: error }, message) });
