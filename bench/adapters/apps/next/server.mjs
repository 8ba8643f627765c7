// Starts the built bench app on Next's programmatic server (the same for both variants; headroom
// comes in through instrumentation.js and the routes when BENCH_VARIANT=headroom). Prints
// HEADROOM_FIXTURE_LISTENING <url> once listening.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import next from 'next';

const dir = path.dirname(fileURLToPath(import.meta.url));
const host = process.env.HOST || '127.0.0.1';
const app = next({ dev: false, dir, hostname: host });
await app.prepare();
const handle = app.getRequestHandler();
const server = http.createServer((req, res) => void handle(req, res));
server.listen(Number(process.env.PORT || 0), host, () => {
  console.log(`HEADROOM_FIXTURE_LISTENING http://${host}:${server.address().port}`);
});
