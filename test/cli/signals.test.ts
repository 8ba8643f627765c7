// `headroom serve > fifo` whose reader goes away or stops reading: SIGTERM must still end the
// gateway, and a second signal must end it at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { exitWithin, portClosed, spawnWatched, startCli, type CliChild } from './child.js';

interface Piped {
  gateway: CliChild;
  reader: CliChild;
  url: string;
  cleanup(): void;
}

/**
 * Starts `headroom serve` with stdout a fifo whose reader is `readerScript` (sh, stdin the fifo),
 * and finds the gateway's URL in the two lines the reader prints.
 */
async function serveIntoFifo(readerScript: string, env: Record<string, string> = {}): Promise<Piped> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-fifo-'));
  const fifo = join(dir, 'out');
  execFileSync('mkfifo', [fifo]);
  const reader = spawnWatched('sh', ['-c', `exec < "$0"; ${readerScript}`, fifo]);
  const out = await open(fifo, 'w'); // returns once the reader has the fifo open
  const gateway = startCli(['serve', '--port', '0'], { env: { CACHE_DIR: join(dir, 'cache'), ...env }, stdio: ['ignore', out.fd, 'pipe'] });
  await out.close();
  const cleanup = (): void => {
    gateway.kill();
    reader.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [, url] = await reader.waitForOutput(/"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/);
    return { gateway, reader, url: url!, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Logs far more than a pipe holds (64 KiB): about 400 bytes per request. */
async function logALot(url: string): Promise<void> {
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 20 }, () => request(`${url}/health/live`)));
  }
}

const firstSignalCases = [
  // The reader exits after two lines: writes fail with EPIPE.
  { name: 'stdout a broken pipe (its reader exited)', reader: 'head -n 2', settle: (p: Piped) => p.reader.exited },
  // The reader stays but reads nothing more: the pipe fills up.
  { name: 'stdout a pipe nobody reads any more', reader: 'head -n 2; exec sleep 600', settle: (p: Piped) => logALot(p.url) },
];

for (const c of firstSignalCases) {
  test(`${c.name}: SIGTERM still exits 0`, async () => {
    const p = await serveIntoFifo(c.reader);
    try {
      await c.settle(p);
      p.gateway.child.kill('SIGTERM');
      const exit = await exitWithin(p.gateway, 15_000, 'gateway after SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, p.gateway.output());
    } finally {
      p.cleanup();
    }
  });
}

test('a second signal ends the process at once, even while stdout is stuck', async () => {
  // SHUTDOWN_DELAY holds the first signal's shutdown for a minute.
  const p = await serveIntoFifo('head -n 2; exec sleep 600', { SHUTDOWN_DELAY: '60s' });
  try {
    await logALot(p.url);
    p.gateway.child.kill('SIGTERM');
    // The first signal took effect: readiness answers 503 while the shutdown delay runs.
    await waitFor(async () => (await request(`${p.url}/health/ready`)).status === 503, 'readiness 503 after the first signal');
    p.gateway.child.kill('SIGTERM');
    const exit = await exitWithin(p.gateway, 5_000, 'gateway after the second SIGTERM');
    assert.equal(exit.signal, 'SIGTERM', `ended by the signal, not ${JSON.stringify(exit)}`);
    assert.equal(await portClosed(p.url), true);
  } finally {
    p.cleanup();
  }
});
