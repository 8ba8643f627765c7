// Fastify's default host, 'localhost', resolving to 127.0.0.1 and ::1 (as most /etc/hosts make
// it): Fastify binds a second server for ::1 at listen time, and the plugin must stand in front of
// it too — shedding, draining and in-flight counting — or say clearly that it cannot.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { headroom } from '../../../src/adapters/fastify/index.js';
import { request } from '../../helpers/http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { controlledMonitor } from './helpers.js';

/** Runs `use` with dns.lookup answering 'localhost' with both loopback addresses (this machine's /etc/hosts may list only one). */
async function withDualStackLocalhost(use: () => Promise<void>): Promise<void> {
  const original = dns.lookup;
  const lookup = (host: string, options: unknown, callback: (...args: unknown[]) => void): void => {
    if (host === 'localhost' && typeof options === 'object' && options !== null && (options as { all?: boolean }).all) {
      callback(null, [
        { address: '127.0.0.1', family: 4 },
        { address: '::1', family: 6 },
      ]);
      return;
    }
    (original as (...args: unknown[]) => void)(host, options, callback);
  };
  (dns as { lookup: unknown }).lookup = lookup;
  try {
    await use();
  } finally {
    (dns as { lookup: unknown }).lookup = original;
  }
}

const portOf = (app: FastifyInstance): number => (app.server.address() as { port: number }).port;

/** True when Fastify bound both loopback addresses (the machine has IPv6 loopback). */
function dualStack(app: FastifyInstance, t: TestContext): boolean {
  if (app.addresses().length === 2) return true;
  t.skip('SKIP: no IPv6 loopback here, Fastify bound only one address');
  return false;
}

describe('Fastify plugin on a dual-stack localhost', () => {
  test('requests on [::1] are shed, drained and counted in flight as on 127.0.0.1', async (t) => {
    await withDualStackLocalhost(() =>
      assertNoLeakedHandles(async () => {
        const { memory, monitor } = controlledMonitor();
        let release: () => void = () => undefined;
        const held = new Promise<void>((resolve) => (release = resolve));
        const app = Fastify();
        await app.register(headroom, { monitor });
        app.get('/app/hello', async () => ({ hello: 'world' }));
        app.get('/app/held', async () => {
          await held;
          return { ok: true };
        });
        await app.listen({ port: 0 }); // host 'localhost', Fastify's default
        try {
          if (!dualStack(app, t)) return;
          const v6 = `http://[::1]:${portOf(app)}`;
          const pending = request(`${v6}/app/held`);
          await waitFor(() => app.headroom.requests().inFlight === 1, 'the request on [::1] to count in flight');
          release();
          assert.equal((await pending).status, 200);
          await waitFor(() => app.headroom.requests().inFlight === 0, 'the slot to be released');

          memory.setHeapRatio(0.9);
          monitor.sampleNow();
          const shed = await request(`${v6}/app/hello`);
          assert.equal(shed.status, 503, 'shed on [::1]');
          assert.equal(shed.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
          assert.equal((await request(`${v6}/health/live`)).status, 200, 'own routes are not shed on [::1]');
          assert.equal((await request(`http://127.0.0.1:${portOf(app)}/app/hello`)).status, 503);

          memory.setHeapRatio(0.1);
          monitor.sampleNow();
          assert.equal((await request(`${v6}/app/hello`)).status, 200);
          app.headroom.drain();
          const drained = await request(`${v6}/app/hello`);
          assert.equal(drained.status, 503, 'drained on [::1]');
          assert.equal(drained.json().error.code, 'HEADROOM_DRAINING');
        } finally {
          release();
          await app.close();
          await monitor.close();
        }
      }),
    );
  });

  test('a Fastify whose other bindings cannot be found gets one warning naming the fix', async (t) => {
    await withDualStackLocalhost(async () => {
      const lines: string[] = [];
      const stream = new Writable({
        write(chunk, _encoding, callback) {
          lines.push(String(chunk));
          callback();
        },
      });
      const app = Fastify({ logger: { level: 'warn', stream } });
      // Stands for a Fastify version that keeps its secondary servers elsewhere: the bindings are
      // still listed (addresses() reads them) but no longer as the array headroom looks for.
      app.addHook('onListen', async function () {
        for (let o: object | null = app; o !== null; o = Object.getPrototypeOf(o) as object | null) {
          const key = Object.getOwnPropertySymbols(o).find((k) => k.description === 'fastify.serverBindings');
          if (key === undefined) continue;
          const servers = (o as Record<symbol, unknown[]>)[key]!;
          (o as Record<symbol, unknown>)[key] = { map: (f: (s: unknown) => unknown) => servers.map(f) };
          return;
        }
      });
      await app.register(headroom, { monitor: { autoStart: false } });
      await app.listen({ port: 0 });
      try {
        if (!dualStack(app, t)) return;
        const warnings = lines.filter((l) => l.includes('headroom'));
        assert.equal(warnings.length, 1, lines.join(''));
        assert.match(warnings[0]!, /not shed, drained or counted in flight/);
        assert.match(warnings[0]!, /Listen on one host: app\.listen\(\{ host: '127\.0\.0\.1' \}\)/);
      } finally {
        await app.close();
      }
    });
  });
});
