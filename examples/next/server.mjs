// `npm start` runs `next build`, then this: the built app on a Node HTTP server (Next's own
// request handler), so that shutdown is headroom's: on SIGTERM/SIGINT readiness turns 503, new
// requests are refused, in-flight ones finish, then the server, Next and headroom close and the
// process ends by itself. (`next start` works too, without the drain.)
import http from 'node:http';
import next from 'next';
import { getHeadroom } from 'headroom-memory/next';
import { gracefulShutdown } from 'headroom-memory/toolkit';
import { headroomConfig, upstreamUrl } from './headroom.config.js';

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const app = next({ dev: false, dir: import.meta.dirname, hostname: host, port });
await app.prepare(); // runs instrumentation.js's register(): the monitor starts
const handle = app.getRequestHandler();
const server = http.createServer((req, res) => void handle(req, res));
gracefulShutdown({ headroom: getHeadroom(headroomConfig), server, close: () => app.close() });
server.listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} (proxying /api to ${upstreamUrl})`);
});
