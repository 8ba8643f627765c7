// src/toolkit/node-middleware.ts. trustedClient: the client address a gate in front of Express
// works out must be the one Express itself gives as req.ip, for every `trust proxy` setting. Real
// Express is the oracle: its handler compares req.ip with trustedClient under the app's own setting.
// nodeGate given its server: requests counted by connection, headroom's own answers left out.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express from 'express';
import { createHeadroom } from '../../src/toolkit/headroom.js';
import { standInFront } from '../../src/toolkit/in-front.js';
import { appClient, nodeGate, trustedClient } from '../../src/toolkit/node-middleware.js';
import { request } from '../helpers/http.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const SETTINGS: unknown[] = [
  false,
  true,
  0,
  1,
  2,
  3,
  'loopback',
  '127.0.0.1',
  '10.0.0.0/8',
  'loopback, 10.0.0.1',
  (a: string) => a !== '10.0.0.2',
];
const HEADERS: (string | undefined)[] = [
  undefined,
  '',
  '1.1.1.1',
  '1.1.1.1, 10.0.0.1',
  '1.1.1.1,10.0.0.2, 10.0.0.1',
  ' 2.2.2.2 , 3.3.3.3 ',
  'x, 10.0.0.9',
  // Empty entries (a proxy appending to a header that was empty or ended in a comma): Express skips them.
  '1.1.1.1, , 10.0.0.1',
  '1.1.1.1,',
  ', ',
  ',,10.0.0.1',
];

test('trustedClient gives the address Express gives as req.ip, for every trust proxy setting', async () => {
  const app = express();
  app.get('/ip', (req, res) => {
    const trust = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
    res.json({ express: req.ip, ours: trustedClient(req, trust), viaApp: appClient(app)(req) });
  });
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ip`;
  try {
    for (const setting of SETTINGS) {
      app.set('trust proxy', setting);
      for (const xff of HEADERS) {
        const r = await request(url, { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
        const { express: expected, ours, viaApp } = r.json() as { express: string; ours: string; viaApp: string };
        const what = `trust proxy ${String(setting)}, X-Forwarded-For ${JSON.stringify(xff)}`;
        assert.equal(ours, expected, what);
        assert.equal(viaApp, expected, `${what} (read from the app)`);
      }
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('appClient falls back to the connection address for apps without Express settings', () => {
  const req = { headers: { 'x-forwarded-for': '1.1.1.1' }, socket: { remoteAddress: '127.0.0.9' } } as never;
  assert.equal(appClient(() => undefined)(req), '127.0.0.9');
  assert.equal(appClient({ get: () => 'not a function' })(req), '127.0.0.9');
});

test('nodeGate with its server counts the app requests by connection and leaves its own answers out', async () => {
  await assertNoLeakedHandles(async () => {
    const hr = createHeadroom();
    const calls = { countRequest: 0, uncount: 0 };
    const countRequest = hr.countRequest;
    hr.countRequest = (req, res) => {
      calls.countRequest++;
      countRequest(req, res);
    };
    const uncount = hr.uncount;
    hr.uncount = (res) => {
      calls.uncount++;
      uncount(res);
    };
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => held.push(res));
    const gate = nodeGate(hr, { server });
    standInFront(server, gate);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const answer = request(`${base}/app`);
      await waitFor(() => held.length === 1, 'the app request');
      assert.equal(hr.requests().inFlight, 1, 'counted by its connection');
      assert.equal((await request(`${base}/health/live`)).status, 200);
      assert.equal((await request(`${base}/metrics`)).status, 200);
      assert.equal(calls.uncount, 2, 'the probe and the scrape are left out');
      hr.drain();
      assert.equal((await request(`${base}/app`)).status, 503);
      assert.equal(calls.uncount, 3, 'and so is a refusal');
      assert.equal(hr.requests().inFlight, 1);
      held[0]!.end('done');
      assert.equal((await answer).status, 200);
      assert.equal(await hr.idle(5_000), true);
      assert.equal(calls.countRequest, 0, 'nothing counted one by one');
    } finally {
      await hr.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

test("nodeGate tells own paths from the app's by their leading characters first: short and look-alike paths go where they belong", async () => {
  await assertNoLeakedHandles(async () => {
    const hr = createHeadroom();
    const server = createServer((_req, res) => res.end('app'));
    const gate = nodeGate(hr, { health: '/h', metrics: '/me', admin: '/admin' });
    standInFront(server, gate);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const path of ['/h', '/h/', '/h/live', '/h/ready', '/me', '/me/', '/admin', '/admin/memory-stats', '/h?x=1', '/me?format=x']) {
        assert.notEqual((await request(`${base}${path}`)).text, 'app', `${path} is headroom's`);
      }
      for (const path of ['/', '/hx', '/hx/live', '/m', '/mex', '/metrics', '/ad', '/ad?x=1', '/adminx', '/H', '/?h', '/x/h']) {
        assert.equal((await request(`${base}${path}`)).text, 'app', `${path} is the app's`);
      }
      hr.drain();
      assert.equal((await request(`${base}/mex`)).status, 503, "the app's look-alike is shed");
      assert.equal((await request(`${base}/h/ready`)).status, 503, 'readiness says draining');
      assert.equal((await request(`${base}/h/live`)).status, 200, 'own paths are never shed');
    } finally {
      await hr.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
