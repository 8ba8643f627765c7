// Codes of the streaming proxy and its admission control, through a real proxy (createProxy or
// the gateway) and real sockets.
import { createServer } from 'node:http';
import { createProxy, type ProxyOptions } from '../../src/proxy/index.js';
import { createUpstreamClient } from '../../src/proxy/upstream-client.js';
import { proxyNodeRequest } from '../../src/toolkit/node-proxy.js';
import { request, type TestResponse } from '../helpers/http.js';
import { rawRequest, completeResponse } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';
import { FakePressure, fromRaw, fromRejection, fromResponse, listen, sharedGateway, sharedOrigin, stop, type Cases } from './fixtures.js';

/** Runs `use` against a proxy on its own server, then closes both (releasing held upstream requests). */
async function withProxy(
  options: Partial<ProxyOptions>,
  use: (url: string, proxy: ReturnType<typeof createProxy>) => Promise<TestResponse>,
) {
  const origin = await sharedOrigin();
  const proxy = createProxy({ upstreamUrl: origin.url, closeTimeout: 1000, ...options });
  const server = createServer((req, res) => proxy.handle(req, res));
  const url = await listen(server);
  try {
    return fromResponse(await use(url, proxy));
  } finally {
    origin.release();
    await proxy.close();
    await stop(server);
  }
}

/** One request held at the upstream (/hang), then `next` while it is in flight. */
const whileOneHangs = (next: string) => async (url: string, proxy: ReturnType<typeof createProxy>) => {
  void request(`${url}/api/hang`).catch(() => undefined); // answered when the case ends
  await waitFor(() => proxy.stats().inFlight === 1, 'the first request to hold the slot');
  return request(`${url}${next}`);
};

const limits = { maxConcurrent: 1, queueSize: 0, queueTimeout: 1000, memoryThresholdPercent: 100 };

export const proxyCases: Cases = {
  // The upstream client reads a body with its byte limit enforced while reading (a 12 KB PNG, 1 KiB allowed).
  HEADROOM_BODY_TOO_LARGE: async () => {
    const client = createUpstreamClient({ baseUrl: (await sharedOrigin()).url, timeout: 5_000, maxBodyBytes: 1024 });
    try {
      return await fromRejection(client.json('/big.png'));
    } finally {
      await client.close();
    }
  },

  HEADROOM_OVERLOADED: () => withProxy({ limits }, whileOneHangs('/api/x')),

  // Two slots, one per client: the same client's second request while its first hangs.
  HEADROOM_CLIENT_LIMIT: () => withProxy({ limits: { ...limits, maxConcurrent: 2, maxPerClient: 1 } }, whileOneHangs('/api/x')),

  HEADROOM_QUEUE_TIMEOUT: () => withProxy({ limits: { ...limits, queueSize: 1, queueTimeout: 20 } }, whileOneHangs('/api/x')),

  HEADROOM_MEMORY_PRESSURE: () =>
    withProxy({ limits: { ...limits, monitor: new FakePressure('critical') } }, (url) => request(`${url}/api/x`)),

  HEADROOM_SHED: () => {
    const monitor = new FakePressure();
    return withProxy({ limits: { ...limits, monitor } }, async (url, proxy) => {
      const r = request(`${url}/api/hang`);
      await waitFor(() => proxy.stats().inFlight === 1, 'the request to wait for the upstream');
      monitor.emit('critical');
      return r;
    });
  },

  HEADROOM_DRAINING: () =>
    withProxy({}, (url, proxy) => {
      proxy.drain();
      return request(`${url}/api/x`);
    }),

  // Nothing listens on 127.0.0.2 (test servers bind 127.0.0.1): refused at once. A port freed on
  // 127.0.0.1 could be taken meanwhile by a server of a test running in parallel.
  HEADROOM_UPSTREAM_UNREACHABLE: () => withProxy({ upstreamUrl: 'http://127.0.0.2:9' }, (url) => request(`${url}/api/x`)),

  // STREAM_TIMEOUT is 500 ms in the shared gateway.
  HEADROOM_UPSTREAM_TIMEOUT: async () => fromResponse(await request(`${(await sharedGateway()).url}/api/hang`)),

  HEADROOM_UPSTREAM_ERROR: async () =>
    fromRaw(
      await rawRequest(
        (await sharedGateway()).url,
        'GET /api/bad-chunk HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        completeResponse,
      ),
    ),

  // A body parser ran first (as express.json() or NestJS's default parser would): refused, upstream never called.
  HEADROOM_BODY_CONSUMED: async () => {
    const origin = await sharedOrigin();
    const proxy = createProxy({ upstreamUrl: origin.url, closeTimeout: 1000 });
    const server = createServer((req, res) => {
      req.resume();
      req.once('end', () => proxyNodeRequest(proxy, req, res));
    });
    const url = await listen(server);
    try {
      return fromResponse(
        await request(`${url}/api/echo`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }),
      );
    } finally {
      origin.release();
      await proxy.close();
      await stop(server);
    }
  },

  HEADROOM_PATH_REJECTED: async () =>
    fromRaw(
      await rawRequest(
        (await sharedGateway()).url,
        'GET /api/%2e%2e/secret HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        completeResponse,
      ),
    ),
};
