// The in-flight count over a real HTTP/1 server: finished, pipelined and aborted requests each stop
// counting; idle() waits for finishes and closed connections and gives up at its bound; responses
// that are not Node's HTTP/1 ones count until their 'close'; nothing is left behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { Socket, type AddressInfo } from 'node:net';
import { createInFlight } from '../../src/toolkit/in-flight.js';
import { openSocket } from '../helpers/raw-http.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor, waitForCollection } from '../helpers/wait.js';

/**
 * A server whose requests are counted in its 'request' listener, or (`from: 'channel'`) on the
 * http.server.request.start diagnostics channel as the Next.js adapter counts them — on Node 20
 * published before Node attaches the response to its socket.
 */
async function counted(handler: (req: IncomingMessage, res: ServerResponse) => void, from: 'request' | 'channel' = 'request') {
  const inFlight = createInFlight();
  const server = http.createServer((req, res) => {
    if (from === 'request') inFlight.count(req, res);
    handler(req, res);
  });
  const onStart = (message: unknown): void => {
    const start = message as { request: IncomingMessage; response: ServerResponse; server: unknown };
    if (start.server === server) inFlight.count(start.request, start.response);
  };
  if (from === 'channel') subscribe('http.server.request.start', onStart);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    inFlight,
    async close() {
      if (from === 'channel') unsubscribe('http.server.request.start', onStart);
      inFlight.close();
      inFlight.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a connection, writes raw bytes, and collects what comes back (the connection stays open). */
async function raw(port: number, bytes: string) {
  let text = '';
  const socket = await openSocket(`http://127.0.0.1:${port}`);
  socket.write(bytes);
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  return { socket, text: () => text };
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;

describe('createInFlight', () => {
  test('finished, pipelined and aborted requests each stop counting', async () => {
    await assertNoLeakedHandles(async () => {
      const held = new Map<string, ServerResponse>();
      const t = await counted((req, res) => {
        if (req.url!.startsWith('/hold')) held.set(req.url!, res);
        else res.end('ok');
      });
      try {
        // Three pipelined requests behind a held one on one keep-alive connection: the three
        // answered ones wait in Node's queue behind it, so all four are in flight.
        const c = await raw(t.port, get('/hold1') + get('/a') + get('/b') + get('/c'));
        await waitFor(() => t.inFlight.value() === 4, 'four requests counted');
        held.get('/hold1')!.end('held');
        await waitFor(() => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length === 4, 'four answers');
        await waitFor(() => t.inFlight.value() === 0, 'all four finished');
        c.socket.end();

        // A request that is never answered stops counting when its client goes away, and
        // answering it afterwards changes nothing.
        const d = await raw(t.port, get('/hold2'));
        await waitFor(() => t.inFlight.value() === 1, 'the held request counted');
        d.socket.destroy();
        await waitFor(() => t.inFlight.value() === 0, 'the aborted request gone');
        held.get('/hold2')!.end('late');
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(t.inFlight.value(), 0);

        // Many short connections: each counted while open, none once closed.
        const many = await Promise.all(
          Array.from({ length: 300 }, () =>
            fetch(`http://127.0.0.1:${t.port}/x`, { headers: { connection: 'close' } }).then((r) => r.text()),
          ),
        );
        assert.equal(many.length, 300);
        await waitFor(() => t.inFlight.value() === 0, 'the 300 requests gone');
      } finally {
        await t.close();
      }
    });
  });

  test('leaveOut(): the responses its tests pick are left out when the count is read, held and pipelined alike; each call adds a test', async () => {
    await assertNoLeakedHandles(async () => {
      const held = new Map<string, ServerResponse>();
      const t = await counted((req, res) => void held.set(req.url!, res));
      try {
        // On one connection an app request, then an own one pipelined behind it (its response queued
        // until the first finishes); on another, an own one.
        const c = await raw(t.port, get('/app') + get('/own/a'));
        const d = await raw(t.port, get('/own/b'));
        await waitFor(() => held.size === 3 && t.inFlight.value() === 3, 'counted before a test is set');
        // Set after they were counted (as the Next.js adapter learns its own paths): asked at reading.
        t.inFlight.leaveOut((res) => res.req.url === '/own/b');
        assert.equal(t.inFlight.value(), 2);
        t.inFlight.leaveOut((res) => res.req.url!.startsWith('/own/'));
        assert.equal(t.inFlight.value(), 1, 'only the app request');
        t.inFlight.leaveOut(() => false);
        assert.equal(t.inFlight.value(), 1, 'a later test adds to the earlier ones, it does not replace them');
        held.get('/app')!.end('app');
        await waitFor(() => held.get('/own/a')!.socket !== null, 'the queued own response attached to its connection');
        assert.equal(t.inFlight.value(), 0, 'the own requests are left out');
        for (const r of held.values()) if (!r.writableEnded) r.end('own');
        c.socket.end();
        d.socket.end();
      } finally {
        await t.close();
      }
    });
  });

  test('idle() resolves on the last finish or closed connection, and gives up at its bound', async () => {
    await assertNoLeakedHandles(async () => {
      const held: ServerResponse[] = [];
      const t = await counted((_req, res) => held.push(res));
      try {
        assert.equal(await t.inFlight.idle(10), true, 'nothing in flight');
        const a = await raw(t.port, get('/a'));
        await waitFor(() => t.inFlight.value() === 1, 'the first request counted');
        assert.equal(await t.inFlight.idle(20), false, 'still in flight at the bound');

        let idle = false;
        const waiting = t.inFlight.idle(5_000).then((v) => (idle = v));
        // A request that arrives while someone waits is waited for too.
        const b = await raw(t.port, get('/b'));
        await waitFor(() => t.inFlight.value() === 2, 'the second request counted');
        held[0]!.end('a');
        await waitFor(() => a.text().includes('HTTP/1.1 200'), 'the first answer');
        assert.equal(idle, false);
        b.socket.destroy(); // the second's client goes away unanswered
        assert.equal(await waiting, true);
        assert.equal(t.inFlight.value(), 0);
        a.socket.end();
      } finally {
        await t.close();
      }
    });
  });

  test('a finished response is not held although its connection stays open', async (t) => {
    // The sweep (setInterval) is mocked and never runs: what lets the response go is the count
    // itself holding nothing once Node detaches the finished response from its socket.
    t.mock.timers.enable({ apis: ['setInterval'] });
    await assertNoLeakedHandles(async () => {
      let ref: WeakRef<ServerResponse> | undefined;
      const counter = await counted((_req, res) => {
        ref = new WeakRef(res);
        res.end('ok');
      });
      try {
        const c = await raw(counter.port, get('/a'));
        await waitFor(() => c.text().includes('ok'), 'the answer');
        // Not value() first: reading the count sweeps.
        await waitForCollection(ref!, 'the finished response collected');
        assert.equal(counter.inFlight.value(), 0);
        c.socket.end();
      } finally {
        await counter.close();
      }
      // Closed: nothing is counted any more.
      const res = new http.ServerResponse({ method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 } as IncomingMessage);
      counter.inFlight.count({ socket: new EventEmitter() } as unknown as IncomingMessage, res);
      assert.equal(counter.inFlight.value(), 0);
    });
  });

  test('counted as requests start (the Next.js adapter): finished responses on a keep-alive connection are not held; pipelined ones count until they finish', async (t) => {
    // The sweep never runs (mocked): what lets the responses go is the count holding nothing. It
    // held each connection's last 31 finished ones when it ran before Node attached them (Node 20).
    t.mock.timers.enable({ apis: ['setInterval'] });
    await assertNoLeakedHandles(async () => {
      const refs: WeakRef<ServerResponse>[] = [];
      const held = new Map<string, ServerResponse>();
      const counter = await counted((req, res) => {
        refs.push(new WeakRef(res));
        if (req.url === '/hold') held.set(req.url, res);
        else res.end('ok');
      }, 'channel');
      try {
        const answers = (c: { text(): string }): number => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length;
        const c = await raw(counter.port, get('/a'));
        for (let n = 1; n <= 3; n++) {
          await waitFor(() => answers(c) === n, `answer ${n}`);
          if (n < 3) c.socket.write(get('/a'));
        }
        for (const [i, ref] of refs.entries()) await waitForCollection(ref, `finished response ${i + 1} of 3 collected`);
        assert.equal(counter.inFlight.value(), 0);

        // Pipelined behind a held request: both count until each has finished.
        c.socket.write(get('/hold') + get('/a'));
        await waitFor(() => held.has('/hold') && refs.length === 5, 'both requests arrived');
        assert.equal(counter.inFlight.value(), 2);
        held.get('/hold')!.end('held');
        await waitFor(() => answers(c) === 5 && refs[4]!.deref()?.writableFinished === true, 'both answered');
        // Not value() here (reading the count sweeps): what lets the finished pipelined response go
        // is the next pipelined one dropping it from the front of the connection's queue.
        held.clear();
        c.socket.write(get('/hold') + get('/a'));
        await waitFor(() => held.has('/hold') && refs.length === 7, 'the next two arrived');
        await waitForCollection(refs[4]!, 'the finished pipelined response collected');
        assert.equal(counter.inFlight.value(), 2);
        held.get('/hold')!.end('held');
        await waitFor(() => answers(c) === 7 && counter.inFlight.value() === 0, 'all finished');
        c.socket.end();
      } finally {
        await counter.close();
      }
    });
  });

  test('a counted server: its requests count with nothing done per request, uncount() leaves one out, idle() notices later ones', async () => {
    await assertNoLeakedHandles(async () => {
      const inFlight = createInFlight();
      const held = new Map<string, ServerResponse>();
      const server = http.createServer((req, res) => {
        if (req.url === '/own') inFlight.uncount(res); // as the Fastify plugin does for its own routes and refusals
        if (req.url === '/own' || req.url!.startsWith('/hold')) held.set(req.url!, res);
        else res.end('ok');
      });
      const connectionListeners = server.listenerCount('connection');
      assert.equal(inFlight.countServer(server), true);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        const a = await raw(port, get('/hold1'));
        await waitFor(() => held.has('/hold1'), 'the first request');
        assert.equal(inFlight.value(), 1, 'counted without count()');
        const own = await raw(port, get('/own'));
        await waitFor(() => held.has('/own'), 'the uncounted request');
        assert.equal(inFlight.value(), 1, 'an uncounted response is left out');

        // idle() is waiting when the next request starts: it is waited for too (noticed by a sweep).
        let idle = false;
        const waiting = inFlight.idle(5_000).then((v) => (idle = v));
        const b = await raw(port, get('/hold2'));
        await waitFor(() => held.has('/hold2'), 'the second request');
        held.get('/hold1')!.end('one');
        await waitFor(() => a.text().includes('one'), 'the first answer');
        assert.equal(inFlight.value(), 1);
        assert.equal(idle, false, 'not idle while the second is answered');
        held.get('/hold2')!.end('two');
        assert.equal(await waiting, true, 'idle once the second has finished');

        // Pipelined: a request queued behind an unfinished one counts once its response is written.
        const c = await raw(port, get('/hold3') + get('/d'));
        await waitFor(() => held.has('/hold3'), 'the held pipelined request');
        held.get('/hold3')!.end('three');
        await waitFor(() => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length === 2, 'both pipelined answers');
        assert.equal(inFlight.value(), 0);
        held.get('/own')!.end('own');
        for (const x of [a, b, c, own]) x.socket.destroy();
      } finally {
        inFlight.close();
        inFlight.close();
        assert.equal(server.listenerCount('connection'), connectionListeners, 'close() took its connection listener back');
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  test('countServer() takes Node HTTP/1 servers only: an https one by its TLS connections', () => {
    const inFlight = createInFlight();
    const secure = https.createServer();
    const node = secure.listenerCount('secureConnection'); // Node's HTTP parser's own
    assert.equal(inFlight.countServer(secure), true);
    assert.equal(secure.listenerCount('secureConnection'), node + 1, 'requests carry the TLS socket, not the TCP one');
    assert.equal(inFlight.countServer(new EventEmitter()), false, 'another kind of server (HTTP/2): count() each request');
    inFlight.close();
    assert.equal(secure.listenerCount('secureConnection'), node);
    assert.equal(inFlight.countServer(http.createServer()), false, 'nothing is counted after close()');
  });

  test('track() and responses that are not Node HTTP/1 ones count until they end', async () => {
    const inFlight = createInFlight();
    const leave = inFlight.track();
    const other = new EventEmitter(); // e.g. an HTTP/2 compatibility response
    inFlight.count({ socket: {} } as IncomingMessage, other as unknown as ServerResponse);
    assert.equal(inFlight.value(), 2);
    const idle = inFlight.idle(5_000);
    leave();
    leave();
    assert.equal(inFlight.value(), 1);
    other.emit('close');
    assert.equal(await idle, true);
    assert.equal(inFlight.value(), 0);

    // A request whose connection is already gone is not counted.
    const gone = new Socket();
    gone.destroy();
    const res = new http.ServerResponse({ method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 } as IncomingMessage);
    inFlight.count({ socket: gone } as unknown as IncomingMessage, res);
    assert.equal(inFlight.value(), 0);
    // A Node response on a mock connection (light-my-request's inject): counted until its 'close'.
    const injected = new http.ServerResponse({ method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 } as IncomingMessage);
    inFlight.count({ socket: new EventEmitter() } as unknown as IncomingMessage, injected);
    assert.equal(inFlight.value(), 1);
    injected.emit('close');
    assert.equal(inFlight.value(), 0);
    inFlight.close();
  });
});
