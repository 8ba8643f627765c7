// The exchange against a dispatcher that drives handlers the way undici 8's core does: only the
// controller-based callbacks exist (the legacy onConnect/onHeaders/onData/onComplete/onError were
// removed in undici 8), a null controller for a refused dispatch, pause()/resume() for backpressure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { Exchange, type ExchangeContext } from '../../src/proxy/exchange.js';
import { createHeaderRules } from '../../src/proxy/headers.js';
import { ProxyCounters } from '../../src/proxy/stats.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { download, request } from './helpers.js';

const LEGACY = ['onConnect', 'onHeaders', 'onData', 'onComplete', 'onError', 'onBodySent'] as const;

class Controller implements Dispatcher.DispatchController {
  paused = false;
  aborted = false;
  reason: Error | null = null;
  onPause = (): void => {};
  onResume = (): void => {};
  onAbort = (_err: Error): void => {};
  abort(err: Error): void {
    this.aborted = true;
    this.reason = err;
    this.onAbort(err);
  }
  pause(): void {
    this.paused = true;
    this.onPause();
  }
  resume(): void {
    this.paused = false;
    this.onResume();
  }
}

type Drive = (handler: Dispatcher.DispatchHandler, controller: Controller) => void;

/** A gateway whose every request is one Exchange sent to a fake dispatcher running `drive`. */
async function serve(
  drive: Drive,
): Promise<{ url: string; ctx: ExchangeContext; tracked: Set<unknown>; releases: () => number; close(): Promise<void> }> {
  const tracked = new Set<unknown>();
  const ctx: ExchangeContext = {
    counters: new ProxyCounters(),
    rules: createHeaderRules({ upstreamToken: 'tok-xyz' }),
    responseCache: undefined,
    streamTimeout: 1_000,
    clientTimeout: 15_000,
    live: new Set(),
    logger: undefined,
    tracker: { add: (s) => void tracked.add(s), untrack: (s) => void tracked.delete(s) },
    gcAssist: undefined,
    location: undefined,
  };
  let released = 0;
  const dispatcher = {
    dispatch(_options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      for (const name of LEGACY) assert.equal(name in handler, false, `legacy callback ${name}`);
      drive(handler, new Controller());
      return true;
    },
  } as unknown as Dispatcher;
  const server = http.createServer((req, res) => {
    const ex = new Exchange(ctx, {
      req,
      res,
      release: () => released++,
      upstreamPath: req.url ?? '/',
      cacheKey: undefined,
      hasAuthorization: false,
      cacheControl: undefined,
    });
    ex.send(dispatcher, { path: '/', method: 'GET', headers: [], body: null });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ctx,
    tracked,
    releases: () => released,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('exchange on the controller-based handler API', () => {
  test('relays the head (1xx skipped, hop-by-hop, token and repeated headers) and a one-chunk body', async () => {
    await assertNoLeakedHandles(async () => {
      const headers: IncomingHttpHeaders = {
        'content-type': 'text/plain',
        'content-length': '5',
        connection: 'keep-alive, x-hop',
        'x-hop': 'dropped',
        'x-secret': 'Bearer tok-xyz',
        'set-cookie': ['a=1', 'b=2'],
      };
      const gw = await serve((h, c) => {
        h.onRequestStart!(c, {});
        h.onResponseStart!(c, 103, { link: '</a.css>; rel=preload' }, 'Early Hints');
        h.onResponseStart!(c, 200, headers, 'Fine');
        h.onResponseData!(c, Buffer.from('hello'));
        h.onResponseEnd!(c, {});
      });
      try {
        const r = await request(gw.url);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'hello');
        assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
        assert.equal(r.headers['x-hop'], undefined);
        assert.equal(r.headers['x-secret'], undefined);
        assert.equal(r.headers.link, undefined);
        assert.equal(gw.ctx.counters.completed, 1);
        assert.equal(gw.ctx.counters.percentiles().samples, 1);
        assert.equal(gw.releases(), 1);
        assert.equal(gw.tracked.size, 0, 'registered for shedding while in flight only');
      } finally {
        await gw.close();
      }
    });
  });

  test('a client that stops reading pauses the upstream through the controller; draining resumes it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    const total = 1024 * chunk.length; // 64 MiB: more than loopback socket buffers hold
    let pauses = 0;
    let resumes = 0;
    let pausedOrDone!: () => void;
    const paused = new Promise<void>((r) => (pausedOrDone = r));
    const gw = await serve((h, c) => {
      let sent = 0;
      const pump = (): void => {
        while (!c.paused && sent < total) {
          h.onResponseData!(c, chunk);
          sent += chunk.length;
        }
        if (sent >= total && !c.paused) {
          h.onResponseEnd!(c, {});
          pausedOrDone(); // never paused: the assertion below fails instead of a hang
        }
      };
      c.onPause = () => {
        pauses++;
        pausedOrDone();
      };
      c.onResume = () => {
        resumes++;
        setImmediate(pump);
      };
      h.onRequestStart!(c, {});
      h.onResponseStart!(c, 200, { 'content-type': 'application/octet-stream' }, 'OK');
      pump();
    });
    try {
      // Reads nothing until the upstream side has been paused.
      const response = new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get(gw.url, { agent: false }, (res) => resolve(res.pause())).on('error', reject),
      );
      await paused;
      let bytes = 0;
      for await (const c of await response) bytes += (c as Buffer).length;
      assert.equal(bytes, total);
      assert.ok(pauses >= 1 && resumes >= 1, `pauses ${pauses}, resumes ${resumes}`);
      assert.equal(gw.ctx.counters.bytesOut, total);
    } finally {
      await gw.close();
    }
  });

  test('a refused dispatch (null controller) → 502; a client that leaves aborts through the controller', async () => {
    let mode: 'refuse' | 'stream' = 'refuse';
    let aborted: Promise<Error> | undefined;
    const gw = await serve((h, c) => {
      if (mode === 'refuse')
        return h.onResponseError!(null as unknown as Controller, Object.assign(new Error('closed'), { code: 'UND_ERR_CLOSED' }));
      aborted = new Promise((resolve) => (c.onAbort = (err) => (h.onResponseError!(c, err), resolve(err))));
      h.onRequestStart!(c, {});
      h.onResponseStart!(c, 200, {}, 'OK');
      h.onResponseData!(c, Buffer.alloc(1000));
    });
    try {
      const r = await request(gw.url);
      assert.equal(r.status, 502);
      assert.equal(JSON.parse(r.body.toString()).error.code, 'HEADROOM_UPSTREAM_UNREACHABLE');
      mode = 'stream';
      const d = await download(gw.url, { abortAfterBytes: 1000 });
      assert.equal(d.complete, false);
      assert.match(String(await aborted), /clientAbort/);
      assert.equal(gw.ctx.counters.errors.clientAbort, 1);
      assert.equal(gw.releases(), 2);
    } finally {
      await gw.close();
    }
  });
});
