// gracefulShutdown on a real HTTP server: readiness 503 at once, the request in flight finishes,
// new connections are refused, everything closes and no handle is left.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createHeadroom } from '../../src/toolkit/headroom.js';
import { gracefulShutdown } from '../../src/toolkit/shutdown.js';
import { writePlain } from '../../src/toolkit/response.js';
import { request } from '../helpers/http.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { heldUpstream } from '../proxy/helpers.js';

describe('gracefulShutdown', () => {
  it('on SIGTERM: ready 503, in-flight requests finish, then server and headroom close', async () => {
    await assertNoLeakedHandles(async () => {
      const hr = createHeadroom();
      let finish: (() => void) | undefined;
      const server: Server = createServer((req, res) => {
        if (req.url === '/health/ready') return writePlain(res, hr.ready());
        const refused = hr.shed(req.url);
        if (refused) return writePlain(res, refused);
        const release = hr.track();
        res.once('close', release);
        finish = () => res.end('done');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      let appClosed = false;
      const stop = gracefulShutdown({ headroom: hr, server, close: () => void (appClosed = true), timeout: 5_000 });
      const slow = request(`${url}/slow`);
      await waitFor(() => finish !== undefined, 'the slow request arrived');
      process.emit('SIGTERM');
      assert.equal(hr.ready().status, 503);
      assert.equal(hr.shed('/app')?.status, 503);
      await assert.rejects(request(`${url}/new`), /ECONNREFUSED/, 'the listener is closed');
      finish!();
      assert.equal((await slow).text, 'done');
      await stop(); // the stop the signal started
      assert.ok(appClosed);
      assert.equal(process.listenerCount('SIGTERM'), 0, 'signal listeners removed');
    });
  });

  it('refuses bad options naming each, before any signal listener is added; takes durations and one signal as text', async () => {
    const hr = createHeadroom();
    try {
      const before = process.listenerCount('SIGTERM');
      assert.throws(() => gracefulShutdown({ headroom: hr, signals: ['SIGTERMX'], timeout: 'soon', tmeout: 5, log: 'yes' } as never), {
        code: 'HEADROOM_CONFIG_INVALID',
        message:
          'gracefulShutdown: signals=["SIGTERMX"]: must be an array of at most 16 signal names such as SIGTERM (not SIGKILL or SIGSTOP); ' +
          'timeout="soon": must be a duration between 0ms and 1h (milliseconds, or a number with ms, s, m or h); ' +
          'log="yes": must be a function (called with a message and an error); tmeout: unknown option; did you mean timeout?',
      });
      assert.throws(() => gracefulShutdown({ headroom: hr, signals: ['SIGKILL'] }), /signals=\["SIGKILL"\]/);
      assert.throws(() => gracefulShutdown({ headroom: {} as never }), /gracefulShutdown: headroom=\{\}: must be a Headroom/);
      assert.equal(process.listenerCount('SIGTERM'), before, 'nothing installed');
      // A single signal written as text (not an array) is that signal, not one listener per letter.
      const stop = gracefulShutdown({ headroom: hr, signals: 'SIGUSR2' as never, timeout: '10s' as never });
      assert.equal(process.listenerCount('SIGUSR2'), 1);
      stop.uninstall();
      assert.equal(process.listenerCount('SIGUSR2'), 0);
    } finally {
      await hr.close();
    }
  });

  it('closes the connections of requests still running after the timeout', async () => {
    const hr = createHeadroom();
    const server = createServer((_req, res) => {
      res.once('close', hr.track());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const logs: string[] = [];
    const stop = gracefulShutdown({ headroom: hr, server, timeout: 50, signals: [], log: (m) => logs.push(m) });
    const hung = request(`${url}/hang`).catch((err: Error) => err);
    await waitFor(() => hr.requests().inFlight === 1, 'the request is in flight');
    await stop();
    assert.ok((await hung) instanceof Error);
    assert.ok(logs.some((m) => m.includes('still running after 50 ms')));
  });

  it('after the timeout, a proxied request still waiting for its upstream gets 503 HEADROOM_DRAINING before the connections close', async () => {
    await assertNoLeakedHandles(async () => {
      const up = await heldUpstream();
      const hr = createHeadroom({ proxy: { upstreamUrl: up.url } });
      const server = createServer((req, res) => {
        res.once('close', hr.track());
        hr.proxy!.handle(req, res);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const stop = gracefulShutdown({ headroom: hr, server, timeout: 50, signals: [] });
      const waiting = request(`${url}/api/slow`);
      await up.arrived;
      await stop();
      const r = await waiting;
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json().error.code, 'HEADROOM_DRAINING');
      assert.equal(hr.proxy!.stats().errors.draining, 1);
      up.release();
      await up.close();
    });
  });
});
