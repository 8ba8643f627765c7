// Every adapter serves the same dashboard through the toolkit's admin dispatcher, at
// <admin>/dashboard: Express (Connect middleware, as NestJS uses too), the Fastify plugin, and a
// Next.js admin route handler (Web Request/Response, the feed as a Web stream).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { headroom as expressHeadroom } from '../../../src/adapters/express/index.js';
import { headroom as fastifyHeadroom } from '../../../src/adapters/fastify/index.js';
import { closeHeadroom, createAdminRoute } from '../../../src/adapters/next/index.js';
import { CONTENT_SECURITY_POLICY, type DashboardFrame } from '../../../src/observe/dashboard/index.js';
import { request } from '../../helpers/http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { openFeed } from './helpers.js';

const TOKEN = 'adapter-dashboard-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const options = { adminToken: TOKEN, cache: { l1: { maxBytes: 1024 * 1024 } }, monitor: { rssLimit: null } };

/** The checks every adapter must pass, at `base` (its admin mount). */
async function checkDashboard(base: string): Promise<void> {
  const page = await request(`${base}/dashboard`);
  assert.equal(page.status, 200, page.text);
  assert.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.match(page.text, /data-api="\.\/"/, 'the page finds the API beside it');
  assert.match(page.text, /src="dashboard\/app\.js"/);
  const script = await request(`${base}/dashboard/app.js`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(script.status, 200);
  assert.equal(script.headers['content-encoding'], 'gzip');
  assert.equal((await request(`${base}/memory-history`)).status, 401);
  const history = await request(`${base}/memory-history`, { headers: auth });
  assert.equal(history.status, 200);
  assert.ok(history.json().count >= 1);
  assert.equal((await request(`${base}/dashboard/feed`)).status, 401);
  const feed = await openFeed(`${base}/dashboard/feed`, auth);
  assert.equal(feed.status, 200);
  await waitFor(() => feed.frames.length > 0, 'a frame');
  const frame = feed.frames[0]!;
  assert.equal(frame.status, 'healthy');
  assert.equal(frame.cache?.maxBytes, 1024 * 1024, 'the app has a cache: it is in the frame');
  assert.equal(frame.proxy, null);
  feed.close();
}

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

describe('the dashboard in every adapter', () => {
  test('Express: <admin>/dashboard through the middleware', async () => {
    await assertNoLeakedHandles(async () => {
      const hr = expressHeadroom(options);
      const app = express();
      app.use(hr.middleware());
      const server = createServer(app);
      const url = await listen(server);
      try {
        await checkDashboard(`${url}/admin`);
      } finally {
        await hr.headroom.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  test('Fastify plugin: <admin>/dashboard through adminRoutes', async () => {
    await assertNoLeakedHandles(async () => {
      const app = Fastify();
      await app.register(fastifyHeadroom, options);
      await app.listen({ port: 0, host: '127.0.0.1' });
      try {
        await checkDashboard(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/admin`);
      } finally {
        await app.close();
      }
    });
  });

  test('Next.js route handler: the feed as a Web stream, cancelled by the reader', async () => {
    await assertNoLeakedHandles(async () => {
      const { GET } = createAdminRoute({ ...options, mount: '/admin' });
      try {
        const page = await GET(new Request('http://localhost/admin/dashboard', { headers: { 'accept-encoding': 'gzip' } }));
        assert.equal(page.status, 200);
        // Uncompressed whatever the client accepts: Next.js drops a handler's Content-Encoding and compresses itself.
        assert.equal(page.headers.get('content-encoding'), null);
        assert.equal(page.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
        assert.match(await page.text(), /<html/i);
        const feed = await GET(new Request('http://localhost/admin/dashboard/feed', { headers: auth }));
        assert.equal(feed.status, 200);
        const reader = feed.body!.pipeThrough(new TextDecoderStream()).getReader();
        const { value } = await reader.read();
        const frame = JSON.parse(value!.split('\n')[0]!) as DashboardFrame;
        assert.equal(frame.status, 'healthy');
        await reader.cancel();
        const refused = await GET(new Request('http://localhost/admin/dashboard/feed'));
        assert.equal(refused.status, 401);
        await refused.arrayBuffer();
      } finally {
        await closeHeadroom();
      }
    });
  });
});
