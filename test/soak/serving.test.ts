// The soak measures the process that serves the URL: under `npm start` (npm's own Node process
// opens an inspector too, announced first) it finds the service below npm; with the port held by
// another process it refuses, naming what it inspected, instead of measuring an idle service.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, SoakStartError, startChild } from '../../src/soak/child.js';
import { connectServing } from '../../src/soak/serving.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const service = fileURLToPath(new URL('../fixtures/soak/ok-lru.mjs', import.meta.url));

test('npm start: the inspected process is the service under npm, not npm', { timeout: 60_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headroom-soak-npm-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'svc', private: true, scripts: { start: `node ${service}` } }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = await startChild({ command: ['npm', 'start'], cwd: dir, url, port, startTimeoutMs: 30_000 });
    try {
      const probe = await connectServing(child, new URL(url), 10_000);
      try {
        assert.ok(child.inspectorUrls().length >= 2, `inspectors announced: ${child.inspectorUrls().join(', ')}`);
        assert.match(String(await probe.evaluate('process.argv[1]')), /ok-lru\.mjs$/);
      } finally {
        await probe.close();
      }
    } finally {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('the port held by another process: refused, naming the process inspected and showing its output', { timeout: 60_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const squatter = createServer((_req, res) => res.end('not the service'));
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const { port } = squatter.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}`;
    // A service that logs its failed listen and stays up (as many do, with a retry or a bare handler).
    const script = `const s = require('node:http').createServer(() => {}); s.on('error', (e) => console.error('listen failed: ' + e.code)); s.listen(${port}, '127.0.0.1'); setInterval(() => {}, 1000);`;
    const child = await startChild({ command: [process.execPath, '-e', script], url, startTimeoutMs: 10_000 });
    try {
      await assert.rejects(connectServing(child, new URL(url), 1_500), (e: Error) => {
        assert.ok(e instanceof SoakStartError);
        assert.match(
          e.message,
          new RegExp(`no Node process the command started listens on port ${port} \\(inspected: pid ${child.pid} \\(`),
        );
        assert.match(e.message, /listen failed: EADDRINUSE/);
        return true;
      });
    } finally {
      await child.stop();
      squatter.close();
      await once(squatter, 'close');
    }
  });
});
