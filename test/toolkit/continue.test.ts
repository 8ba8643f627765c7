// src/toolkit/continue.ts on a real Node server and raw clients: 100 Continue goes out when the
// handler reads the body, never before or after the final status; the undo gives Node's default back.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { continueOnRead } from '../../src/toolkit/continue.js';
import { standInFront } from '../../src/toolkit/in-front.js';
import { CONTINUE, rawRequest, uploadOnContinue } from '../helpers/raw-http.js';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const head = (path: string, length: number): string =>
  `POST ${path} HTTP/1.1\r\nHost: t.example\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

test('100 Continue only when the handler reads the body; a handler that answers first sends its status alone', async () => {
  const { server, url } = await listen((req, res) => {
    if (req.url === '/read') {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => res.end(`got ${body}`));
    } else if (req.url === '/answer-then-read') {
      // Reading once the final status is out (its body still being written) must not put a 100 into it.
      res.writeHead(413, { 'content-length': '9' });
      res.write('too ');
      req.resume();
      setImmediate(() => res.end('large'));
    } else {
      res.statusCode = 401;
      res.end('no');
    }
  });
  const undo = continueOnRead(server);
  try {
    const read = await uploadOnContinue(url, head('/read', 5), 'hello');
    assert.ok(read.text.startsWith(CONTINUE), read.text);
    assert.match(read.text, /\r\n\r\ngot hello$/);
    for (const [path, status] of [
      ['/refuse', 401],
      ['/answer-then-read', 413],
    ] as const) {
      const reply = await rawRequest(url, head(path, 1_000_000), undefined, 5_000);
      assert.equal(reply.status, status, reply.text);
      assert.doesNotMatch(reply.text, /100 Continue/);
      assert.match(reply.text, status === 413 ? /\r\n\r\ntoo large$/ : /\r\n\r\nno$/);
      assert.equal(reply.closed, true, `${path}: the announced body is never read as the next request`);
    }
    undo();
    undo();
    assert.equal(server.listenerCount('checkContinue'), 0);
    const early = await rawRequest(url, head('/refuse', 1_000_000), (text) => text.includes('\r\n\r\nno'), 5_000);
    assert.ok(early.text.startsWith(CONTINUE), `after the undo Node answers 100 at once again: ${early.text}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("standInFront answers 100 on read unless the server has a 'checkContinue' listener of its own; its undo removes it", async () => {
  const pass = (): boolean => true;
  const plain = createServer(() => undefined);
  const undo = standInFront(plain, pass);
  assert.equal(plain.listenerCount('checkContinue'), 1);
  undo();
  assert.equal(plain.listenerCount('checkContinue'), 0);
  const own = createServer(() => undefined);
  const ownListener = (): void => undefined;
  own.on('checkContinue', ownListener);
  standInFront(own, pass)();
  assert.deepEqual(own.listeners('checkContinue'), [ownListener], 'the app decides on its own 100s');
});
