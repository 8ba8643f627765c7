// src/toolkit/in-front.ts: a gate in front of a real HTTP server's request listeners, and its undo.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { standInFront } from '../../src/toolkit/in-front.js';
import { request } from '../helpers/http.js';

test('the listeners run only for requests the gate passes; undo puts them back, once', async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`app ${req.url}`);
    res.end('app');
  });
  server.on('request', (req: IncomingMessage) => void seen.push(`second ${req.url}`));
  const gate = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.url !== '/refused') return true;
    res.statusCode = 503;
    res.end('refused');
    return false;
  };
  const undo = standInFront(server, gate);
  assert.equal(server.listenerCount('request'), 1);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal((await request(`${url}/passed`)).text, 'app');
    const refused = await request(`${url}/refused`);
    assert.equal(refused.status, 503);
    assert.deepEqual(seen, ['app /passed', 'second /passed'], 'both listeners, in order, only for the passed request');
    undo();
    undo();
    assert.equal(server.listenerCount('request'), 2);
    assert.equal((await request(`${url}/refused`)).text, 'app', 'after undo the app sees every request');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
