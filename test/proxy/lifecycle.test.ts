// createProxy's own lifecycle on a plain node:http server: one close() in progress for every
// caller, the close timeout for requests that never finish, and the admission it makes itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { HeadroomError } from '../../src/errors.js';
import { createProxy, type Proxy, type ProxyOptions } from '../../src/proxy/index.js';
import { createAdmission } from '../../src/admission/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { heldUpstream, request } from './helpers.js';

async function serve(options: ProxyOptions): Promise<{ url: string; proxy: Proxy; close(): Promise<void> }> {
  const proxy = createProxy(options);
  const server = http.createServer((req, res) => proxy.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    proxy,
    close: async () => {
      await proxy.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('createProxy lifecycle', () => {
  test('close() twice while a request is in flight: one promise, settled only once the request is done', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream();
      const gw = await serve({ upstreamUrl: up.url });
      const inFlight = request(`${gw.url}/api/slow`);
      await up.arrived;
      const first = gw.proxy.close();
      const second = gw.proxy.close();
      assert.equal(second, first, 'the same in-flight promise');
      assert.equal(gw.proxy[Symbol.asyncDispose](), first);
      let settled = false;
      void second.then(() => (settled = true));
      for (let i = 0; i < 5; i++) await tick();
      assert.equal(settled, false, 'close() must wait for the request in flight');
      up.release();
      assert.equal((await inFlight).body.toString(), 'late');
      await second;
      assert.equal(settled, true);
      await gw.close();
      await up.close();
    });
  });

  // The upstream is not at fault: the client is told the instance is going away and may retry elsewhere.
  const assertDraining = (r: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }, which: string): void => {
    assert.equal(r.status, 503, `${which}: ${r.body.toString()}`);
    assert.equal(JSON.parse(r.body.toString()).error.code, 'HEADROOM_DRAINING', which);
    assert.equal(r.headers['retry-after'], '1', which);
    assert.equal(r.headers.connection, 'close', which);
  };

  test('requests still running after closeTimeout get 503 HEADROOM_DRAINING, one queued for the upstream connection too; close() resolves', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream();
      // One upstream connection: the second request waits in undici's queue, never started.
      const gw = await serve({ upstreamUrl: up.url, closeTimeout: 50, connections: 1, limits: { maxConcurrent: 2 } });
      const inFlight = request(`${gw.url}/api/never`);
      await up.arrived;
      const queued = request(`${gw.url}/api/queued`);
      await waitFor(() => gw.proxy.stats().inFlight === 2, 'the second request in flight');
      await gw.proxy.close();
      assertDraining(await inFlight, 'at the upstream');
      assertDraining(await queued, 'queued for the connection');
      const stats = gw.proxy.stats();
      assert.equal(stats.inFlight, 0);
      assert.equal(stats.errors.draining, 2);
      up.release();
      await gw.close();
      await up.close();
    });
  });

  test('abortInFlight(): a request waiting in a shared admission queue gets 503 HEADROOM_DRAINING when a slot frees, never the destroyed pool', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream();
      const admission = createAdmission({ maxConcurrent: 1, queueSize: 1, queueTimeout: 10_000 });
      const gw = await serve({ upstreamUrl: up.url, admission });
      const first = request(`${gw.url}/api/first`);
      await up.arrived;
      const waiting = request(`${gw.url}/api/waiting`);
      await waitFor(() => admission.stats().queued === 1, 'the second request in the admission queue');
      await gw.proxy.abortInFlight();
      assertDraining(await first, 'in flight');
      assertDraining(await waiting, 'from the admission queue');
      assert.equal((await request(`${gw.url}/api/after`)).status, 503, 'new requests are refused');
      await gw.proxy.close(); // resolves at once: everything was ended
      up.release();
      await gw.close();
      await admission.close();
      await up.close();
    });
  });

  test('without a shared controller it makes its own from `limits` and closes it', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream();
      const gw = await serve({ upstreamUrl: up.url, limits: { maxConcurrent: 1, queueSize: 0 } });
      const first = request(`${gw.url}/api/a`);
      await up.arrived;
      const refused = await request(`${gw.url}/api/b`);
      assert.equal(refused.status, 503);
      assert.equal(JSON.parse(refused.body.toString()).error.code, 'HEADROOM_OVERLOADED');
      assert.equal(gw.proxy.stats().admission.maxConcurrent, 1);
      up.release();
      assert.equal((await first).status, 200);
      await gw.close(); // closes the admission it made (its breaker timer included)
      await up.close();
    });
  });

  test('a bare Admission (acquire() only) is refused up front', () => {
    const bare = { acquire: async () => () => {}, stats: () => ({}), close: async () => {} };
    assert.throws(
      () => createProxy({ upstreamUrl: 'http://127.0.0.1:9', admission: bare as never }),
      (err: unknown) => err instanceof HeadroomError && err.code === 'HEADROOM_CONFIG_INVALID' && /createAdmission/.test(err.message),
    );
  });
});
