// An Express app with headroom-memory. `npm install && npm start`, then:
//   curl localhost:3000/health            memory status (503 while critical)
//   curl localhost:3000/metrics           Prometheus, headroom_* included
//   curl localhost:3000/api/anything?x=1 -H 'authorization: Bearer dev-token'
//                                         streamed to UPSTREAM_URL/anything?x=1
//   curl -X POST localhost:3000/notes -H 'authorization: Bearer dev-token' \
//        -H 'content-type: application/json' -d '{"text":"hi"}'
import { createServer } from 'node:http';
import express from 'express';
import { headroom } from 'headroom-memory/express';

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const APP_TOKEN = process.env.APP_TOKEN || 'dev-token';
let demo; // the demo upstream, when UPSTREAM_URL is not set
const upstreamUrl = process.env.UPSTREAM_URL || (await demoUpstream());

const hr = headroom({
  // The app's own token is for this app: it is not passed on to the upstream.
  proxy: { upstreamUrl, dropHeaders: ['authorization'] },
  adminToken: process.env.HEADROOM_ADMIN_TOKEN || undefined, // unset or empty: /admin/* answers 403
});

// The app's auth (its token is not passed upstream: dropHeaders above).
function requireToken(req, res, next) {
  if (req.headers.authorization !== `Bearer ${APP_TOKEN}`) return void res.status(401).json({ error: 'missing or wrong bearer token' });
  next();
}

const app = express();
// 1. The proxy, behind the app's auth and BEFORE any body parser, so request bodies stream to the
//    upstream unread.
app.use('/api', requireToken, hr.proxy());
// 2. The app's own routes: auth first, then their body parser (nothing is parsed for a caller
//    without the token).
app.post('/notes', requireToken, express.json({ limit: '100kb' }), (req, res) => {
  const text = typeof req.body?.text === 'string' ? req.body.text : '';
  if (!text) return void res.status(400).json({ error: 'body must be {"text": "…"}' });
  res.status(201).json({ note: { text, length: text.length } });
});
// Errors as JSON (a malformed body is a 400), never Express's HTML page with a stack trace.
app.use((err, req, res, _next) => {
  const status = Number.isInteger(err?.status) && err.status >= 400 && err.status < 500 ? err.status : 500;
  res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
});

// 3. headroom in front of the app: /health, /health/live, /health/ready, /metrics and /admin/* are
//    answered before Express; while memory is critical the rest gets 503 + Retry-After without
//    reaching Express; the app's requests are counted in flight and handed to it.
//    (Or app.use(hr.middleware()) first and app.listen(): the same, as an Express layer.)
const server = createServer(hr.handler(app)).listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`listening on http://${HOST}:${port} (proxying /api to ${upstreamUrl})`);
});
// SIGTERM/SIGINT: readiness 503, in-flight requests finish, then everything closes and the
// process ends by itself.
hr.shutdown(server, { close: () => demo?.close() });

// Without UPSTREAM_URL, a tiny upstream in this process answers /api/* so the example runs alone.
async function demoUpstream() {
  demo = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ demo: true, method: req.method, url: req.url }));
  });
  await new Promise((resolve) => demo.listen(0, '127.0.0.1', resolve));
  console.log('UPSTREAM_URL is not set: proxying /api to a small demo upstream in this process');
  return `http://127.0.0.1:${demo.address().port}`;
}
