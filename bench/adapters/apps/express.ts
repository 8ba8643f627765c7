// bench/adapters: an Express 5 app with one JSON route, bare or with headroom's middleware mounted
// first, the way docs/frameworks/express.md shows (monitor with its default sample interval,
// shedding, health, metrics and admin routes, in-flight counting). BENCH_VARIANT=bare|headroom.
import express from 'express';
import type { AddressInfo } from 'node:net';
import { headroom } from '../../../src/adapters/express/index.js';

const app = express();
if (process.env.BENCH_VARIANT === 'headroom') app.use(headroom().middleware());

app.get('/app/hello', (_req, res) => {
  res.json({ hello: 'world' });
});

const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`HEADROOM_FIXTURE_LISTENING http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
