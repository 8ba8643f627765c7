// serverInFlight over a real HTTP/1 server: finished responses, pipelined keep-alive requests and
// aborted ones each give their slot back exactly once; other servers are not counted; HTTP/2 is
// declined; close() stops the counting and leaves nothing behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import { serverInFlight } from '../../src/toolkit/server-in-flight.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

async function counted(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  let inFlight = 0;
  let left = 0;
  const server = http.createServer();
  const counter = serverInFlight(
    server,
    () => inFlight++,
    () => {
      inFlight--;
      left++;
    },
  )!;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    assert.equal(counter.count(req), true);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    counter,
    inFlight: () => inFlight,
    left: () => left,
    async close() {
      counter.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends raw bytes on one connection and resolves with everything received once `until` matches. */
function exchange(port: number, bytes: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (until.test(text)) {
        socket.end();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

describe('serverInFlight', () => {
  test('finished, pipelined and aborted requests each leave exactly once', async () => {
    await assertNoLeakedHandles(async () => {
      const held: ServerResponse[] = [];
      const t = await counted((req, res) => {
        if (req.url === '/hold') held.push(res);
        else res.end('ok');
      });
      try {
        // Three pipelined requests on one keep-alive connection.
        const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;
        const text = await exchange(t.port, get('/a') + get('/b') + get('/c'), /(HTTP\/1\.1 200[\s\S]*){3}/);
        assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 3);
        await waitFor(() => t.left() === 3, 'three finished responses');
        assert.equal(t.inFlight(), 0);

        // A request that is never answered: its slot comes back when the client goes away.
        const req = http.get(`http://127.0.0.1:${t.port}/hold`, { agent: false });
        req.on('error', () => undefined);
        await waitFor(() => t.inFlight() === 1, 'the held request to be counted');
        req.destroy();
        await waitFor(() => t.inFlight() === 0, 'the aborted request to leave');
        // Answering it after the connection closed gives nothing back twice.
        held[0]!.end('late');
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(t.left(), 4);
        assert.equal(t.inFlight(), 0);
      } finally {
        await t.close();
      }
    });
  });

  test("another server's responses are not counted, and close() stops the counting", async () => {
    const t = await counted((_req, res) => res.end('ok'));
    const other = http.createServer((_req, res) => res.end('other'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const otherPort = (other.address() as AddressInfo).port;
      await exchange(otherPort, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', /other/);
      assert.equal(t.left(), 0);
      await exchange(t.port, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', /ok/);
      await waitFor(() => t.left() === 1, 'the finished response');
      t.counter.close();
      t.counter.close();
    } finally {
      other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => resolve()));
      await t.close();
    }
  });

  test('HTTP/2 servers (no finish channel) and non-servers are declined', () => {
    assert.equal(
      serverInFlight(
        http2.createServer(),
        () => undefined,
        () => undefined,
      ),
      undefined,
    );
    assert.equal(
      serverInFlight(
        {},
        () => undefined,
        () => undefined,
      ),
      undefined,
    );
  });
});
