// Starting the service: when its inspector lands on the very port chosen for the service (the OS
// picks the inspector's port and may hand out the same free port), start-up fails with
// ServicePortTaken, which runSoak answers by choosing another port.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, ServicePortTaken, startChild } from '../../src/soak/child.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const fixture = fileURLToPath(new URL('../fixtures/soak/ok-lru.mjs', import.meta.url));

test('the inspector on the port chosen for the service: ServicePortTaken, the child stopped', { timeout: 30_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const port = await freePort();
    // The service's own --inspect comes after the soak's and wins: the collision, made on purpose.
    await assert.rejects(
      startChild({
        command: [process.execPath, `--inspect=127.0.0.1:${port}`, fixture],
        url: `http://127.0.0.1:${port}`,
        port,
        startTimeoutMs: 10_000,
      }),
      (e: Error) => e instanceof ServicePortTaken && e.message.includes(`took port ${port}`),
    );
  });
});

test(
  'stop(): a wrapper that exits on SIGTERM while its service ignores it: the whole group ends, nothing holds the soak',
  { timeout: 30_000 },
  async () => {
    await assertNoLeakedHandles(async () => {
      const port = await freePort();
      // As `npm start` over a service that ignores SIGTERM: sh dies of it, the node process under it lives on.
      const service = `process.on('SIGTERM', () => {}); require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
      const child = await startChild({
        command: ['sh', '-c', `"${process.execPath}" -e "$0" & wait`, service],
        url: `http://127.0.0.1:${port}`,
        port,
        startTimeoutMs: 10_000,
      });
      const t0 = performance.now();
      await child.stop(500);
      const took = performance.now() - t0;
      assert.throws(() => process.kill(-child.pid, 0), { code: 'ESRCH' }, 'no process of the group is left');
      assert.ok(took < 5_000, `stopped in ${Math.round(took)} ms`);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'the port is free again');
    });
  },
);

test(
  'a service on [::1]: start-up connects to ::1, not to a host named "[::1]" (skipped without IPv6 loopback)',
  { timeout: 30_000 },
  async (t) => {
    // A free port on ::1, or none when this machine has no IPv6 loopback.
    const port = await new Promise<number | undefined>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen(0, '::1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    if (port === undefined) {
      console.log('SKIP the [::1] start-up test: this machine has no IPv6 loopback (::1)');
      t.skip('no IPv6 loopback');
      return;
    }
    await assertNoLeakedHandles(async () => {
      const service = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '::1')`;
      const child = await startChild({
        command: [process.execPath, '-e', service],
        url: `http://[::1]:${port}/`,
        startTimeoutMs: 10_000,
      });
      try {
        assert.equal(child.exit(), undefined, 'the service runs');
      } finally {
        await child.stop();
      }
    });
  },
);
