// `headroom serve` sizes itself: with a memory limit (here HEADROOM_MEMORY, as the machine has no
// cgroup limit) and no heap flag, the gateway runs as a child of the runner with the derived
// flags; signals and exit codes behave as without it. HEADROOM_RUN=off opts out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { exitWithin, portClosed, startCli } from './child.js';

const LISTENING = /"url":"(http:\/\/127\.0\.0\.1:\d+)","pid":(\d+)/;

async function serve(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-run-serve-'));
  const c = startCli(['serve', '--port', '0'], { env: { CACHE_DIR: join(dir, 'cache'), ...env } });
  let gateway: number | undefined;
  const cleanup = (): void => {
    c.kill();
    // The gateway under the runner: a SIGKILLed runner cannot forward anything (a failed assertion
    // would leave it running, and the test runner waiting on it).
    if (gateway !== undefined && gateway !== c.child.pid) {
      try {
        process.kill(gateway, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [, url, pid] = await c.waitForOutput(LISTENING);
    gateway = Number(pid);
    return { c, url: url!, pid: gateway, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

test('with a memory limit the gateway runs with the derived heap; SIGTERM exits 0, port freed', async () => {
  const s = await serve({ HEADROOM_MEMORY: '512m' });
  try {
    assert.notEqual(s.pid, s.c.child.pid, 'the gateway is a child of the runner');
    assert.match(
      s.c.output(),
      /headroom: memory limit 512 MiB \(HEADROOM_MEMORY\): serving with --max-old-space-size=368 --max-semi-space-size=8/,
    );
    const health = (await request(`${s.url}/health`)).json<{ v8: { heapSizeLimit: number }; thresholds: { rssLimit: number | null } }>();
    assert.equal(health.v8.heapSizeLimit, (368 + 24) * 1024 ** 2);
    s.c.child.kill('SIGTERM');
    assert.deepEqual(await exitWithin(s.c, 15_000, 'serve after SIGTERM'), { code: 0, signal: null }, s.c.output());
    await waitFor(() => portClosed(s.url), 'the port to close');
    assert.match(s.c.output(), /"msg":"shutdown complete"/);
    assert.doesNotMatch(s.c.output(), /unknown variable HEADROOM_MEMORY/);
  } finally {
    s.cleanup();
  }
});

test('a second signal still ends the gateway at once, by that signal, through the runner', async () => {
  const s = await serve({ HEADROOM_MEMORY: '512m', SHUTDOWN_DELAY: '60s' });
  try {
    s.c.child.kill('SIGTERM');
    await waitFor(async () => (await request(`${s.url}/health/ready`)).status === 503, 'readiness 503 after the first signal');
    s.c.child.kill('SIGTERM');
    assert.deepEqual(await exitWithin(s.c, 5_000, 'serve after the second SIGTERM'), { code: null, signal: 'SIGTERM' });
    assert.equal(await portClosed(s.url), true);
  } finally {
    s.cleanup();
  }
});

test('HEADROOM_RUN=off, or a heap flag already given, start the gateway in the process itself', async () => {
  const envs: Record<string, string>[] = [
    { HEADROOM_MEMORY: '512m', HEADROOM_RUN: 'off' },
    { HEADROOM_MEMORY: '512m', NODE_OPTIONS: '--max-old-space-size=200' },
  ];
  for (const env of envs) {
    const s = await serve(env);
    try {
      assert.equal(s.pid, s.c.child.pid, JSON.stringify(env));
      assert.doesNotMatch(s.c.output(), /serving with/);
      s.c.child.kill('SIGTERM');
      assert.deepEqual(await exitWithin(s.c, 15_000, 'serve after SIGTERM'), { code: 0, signal: null });
    } finally {
      s.cleanup();
    }
  }
});

test('a limit that leaves the gateway less than 32 MiB of old space is refused, naming the smallest limit that serves', async () => {
  // 80 MiB leaves 12 MiB: the gateway would die of a heap error while starting.
  const c = startCli(['serve', '--port', '0'], { env: { HEADROOM_MEMORY: '80m' } });
  try {
    assert.deepEqual(await exitWithin(c, 15_000, 'serve with 80 MiB'), { code: 2, signal: null }, c.output());
    assert.match(
      c.output(),
      /memory limit 80 MiB \(HEADROOM_MEMORY\) leaves the gateway an old space of 12 MiB; it needs at least 32 MiB, which a limit of 106 MiB or more gives/,
    );
    assert.doesNotMatch(c.output(), /serving with|heap out of memory/);
  } finally {
    c.kill();
  }
  // The limit named serves.
  const s = await serve({ HEADROOM_MEMORY: '106m' });
  try {
    assert.match(s.c.output(), /serving with --max-old-space-size=32 /);
  } finally {
    s.cleanup();
  }
});
