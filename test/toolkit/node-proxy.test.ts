// proxyNodeRequest: a body a parser already read is refused (never forwarded empty), and the full
// URL given by the framework is what the proxy maps, whatever mount path was cut from req.url.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createProxy } from '../../src/proxy/proxy.js';
import { bodyConsumed, proxyNodeRequest } from '../../src/toolkit/node-proxy.js';
import { request } from '../helpers/http.js';

async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('proxyNodeRequest', () => {
  it('maps the full URL it is given, refuses a consumed body, and forwards an unread one', async () => {
    const seen: string[] = [];
    const upstream = await listen((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${n}`);
        res.end('ok');
      });
    });
    const proxy = createProxy({ upstreamUrl: upstream.url, prefix: '/api', stripPrefix: true, closeTimeout: 500 });
    const app = await listen((req, res) => {
      const full = req.url!;
      if (full.startsWith('/parsed')) {
        req.resume(); // a body parser
        return req.once('end', () => proxyNodeRequest(proxy, req, res, `/api${full.slice('/parsed'.length)}`));
      }
      req.url = full.slice('/api'.length) || '/'; // what a framework's mount does
      proxyNodeRequest(proxy, req, res, full);
    });
    try {
      assert.equal((await request(`${app.url}/api/echo?x=4&y=%2F`)).status, 200);
      assert.equal((await request(`${app.url}/api/up`, { method: 'POST', body: 'x'.repeat(1000) })).status, 200);
      const refused = await request(`${app.url}/parsed/up`, {
        method: 'POST',
        body: '{"a":1}',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(refused.status, 500);
      assert.equal(refused.json().error.code, 'HEADROOM_BODY_CONSUMED');
      assert.match(refused.json().error.message, /before body parsers/);
      assert.equal((await request(`${app.url}/parsed/get`)).status, 200, 'no body declared: nothing was lost');
      assert.deepEqual(seen, ['GET /echo?x=4&y=%2F 0', 'POST /up 1000', 'GET /get 0']);
    } finally {
      await proxy.close();
      app.server.close();
      upstream.server.close();
    }
  });

  it('bodyConsumed looks at what was declared and what was read', () => {
    const req = (headers: Record<string, string>, read: Partial<IncomingMessage> & { _body?: boolean; listening?: string[] }) =>
      ({
        headers,
        readableDidRead: false,
        readableEnded: false,
        readableFlowing: null,
        listenerCount: (event: string) => (read.listening ?? []).filter((e) => e === event).length,
        ...read,
      }) as unknown as IncomingMessage;
    assert.equal(bodyConsumed(req({}, { readableEnded: true })), false);
    assert.equal(bodyConsumed(req({ 'content-length': '0' }, { readableDidRead: true })), false);
    assert.equal(bodyConsumed(req({ 'content-length': '5' }, {})), false);
    assert.equal(bodyConsumed(req({ 'content-length': '5' }, { readableDidRead: true })), true);
    assert.equal(bodyConsumed(req({ 'transfer-encoding': 'chunked' }, { _body: true })), true);
    // Set to be read: a 'data' or 'readable' listener, or a stream already flowing (resume()).
    assert.equal(bodyConsumed(req({ 'content-length': '5' }, { listening: ['data'] })), true);
    assert.equal(bodyConsumed(req({ 'content-length': '5' }, { listening: ['readable'] })), true);
    assert.equal(bodyConsumed(req({ 'content-length': '5' }, { readableFlowing: true })), true);
    assert.equal(bodyConsumed(req({ 'content-length': '5' }, { readableFlowing: false, listening: ['end', 'close'] })), false);
  });
});
