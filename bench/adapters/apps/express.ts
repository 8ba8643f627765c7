// bench/adapters: an Express 5 app with one JSON route, bare or with headroom's middleware mounted
// first, the way docs/frameworks/express.md shows (monitor with its default sample interval,
// shedding, health, metrics and admin routes, in-flight counting). BENCH_VARIANT=bare|headroom;
// BENCH_EXPRESS_FRONT=1: headroom in front of the app (http.createServer(hr.handler(app))) instead.
import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as ExpressAdapter from '../../../src/adapters/express/index.js';
import { loadHeadroom } from './headroom.js';

const app = express();
const hr =
  process.env.BENCH_VARIANT === 'headroom'
    ? (await loadHeadroom<typeof ExpressAdapter>('adapters/express/index.js')).headroom()
    : undefined;
const front = process.env.BENCH_EXPRESS_FRONT === '1';
if (hr && !front) app.use(hr.middleware());

app.get('/app/hello', (_req, res) => {
  res.json({ hello: 'world' });
});

const server = createServer(hr && front ? hr.handler(app) : app).listen(
  Number(process.env.PORT ?? 0),
  process.env.HOST ?? '127.0.0.1',
  () => {
    console.log(`HEADROOM_FIXTURE_LISTENING http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  },
);
