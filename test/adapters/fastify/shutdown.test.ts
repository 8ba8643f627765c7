// gracefulShutdown for a Fastify app: over HTTP/2 (no closeAllConnections) it still stops the
// app, and called before the plugin has loaded it says what to await.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { gracefulShutdown, headroom } from '../../../src/adapters/fastify/index.js';
import { waitFor } from '../../helpers/wait.js';

describe('Fastify gracefulShutdown', () => {
  test(
    'over HTTP/2: a request still running after the timeout is cut and the app closes; an idle session does not hold it',
    { timeout: 20_000 },
    async () => {
      for (const hanging of [true, false]) {
        // No session timeout: nothing but the shutdown ends the client's session.
        const app = Fastify({ http2: true, http2SessionTimeout: 0 });
        await app.register(headroom, { monitor: { autoStart: false } });
        app.get('/hang', () => new Promise(() => undefined)); // a long poll that never answers
        app.get('/app/hello', async () => ({ hello: 'world' }));
        await app.listen({ port: 0, host: '127.0.0.1' });
        const client = http2.connect(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
        client.on('error', () => undefined);
        const clientClosed = new Promise((resolve) => client.once('close', resolve));
        try {
          if (hanging) {
            const stream = client.request({ ':path': '/hang' });
            stream.on('error', () => undefined);
            await waitFor(() => app.headroom.requests().inFlight === 1, 'the hanging request to count');
          } else {
            const stream = client.request({ ':path': '/app/hello' });
            stream.resume();
            await new Promise((resolve) => stream.once('close', resolve));
          }
          const logs: string[] = [];
          const stop = gracefulShutdown(app, {
            timeout: 100,
            signals: ['SIGUSR2'],
            log: (m, e) => logs.push(e ? `${m}: ${String(e)}` : m),
          });
          await stop();
          assert.ok(!logs.some((l) => l.startsWith('error')), logs.join('\n'));
          assert.equal(app.server.listening, false, 'the app is closed');
          await clientClosed; // the session was ended by the server
        } finally {
          client.destroy();
          await app.close();
        }
      }
    },
  );

  test('called without the app, it says what it takes', () => {
    for (const app of [undefined, {}])
      assert.throws(() => gracefulShutdown(app as never), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: `gracefulShutdown(app): app must be the Fastify instance headroom is registered on; got ${app === undefined ? 'undefined' : 'object'}`,
      });
  });

  test('called before the plugin has loaded, it says to await the registration', async () => {
    const app = Fastify();
    void app.register(headroom, { monitor: { autoStart: false } }); // Fastify's usual style: no await yet
    try {
      assert.throws(() => gracefulShutdown(app, { signals: ['SIGUSR2'] }), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: /await its registration \(await app\.register\(headroom, …\)\) or await app\.ready\(\)/,
      });
      await app.ready();
      const stop = gracefulShutdown(app, { signals: ['SIGUSR2'] });
      stop.uninstall();
    } finally {
      await app.close();
    }
  });
});
