// createProxy's own lifecycle on a plain node:http server: one close() in progress for every
// caller, the close timeout for requests that never finish, and the admission it makes itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { HeadroomError } from '../../src/errors.js';
import { createProxy, type Proxy, type ProxyOptions } from '../../src/proxy/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
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

  test('requests still running after closeTimeout are cut (502) and close() resolves', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream();
      const gw = await serve({ upstreamUrl: up.url, closeTimeout: 50 });
      const inFlight = request(`${gw.url}/api/never`);
      await up.arrived;
      await gw.proxy.close();
      const r = await inFlight;
      assert.equal(r.status, 502);
      assert.equal(gw.proxy.stats().inFlight, 0);
      up.release();
      await gw.close();
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
