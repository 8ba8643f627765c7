// A real heap growth in a child process with a small heap: its monitor must report warning, then
// critical, from its own timer-driven samples.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/heap-growth.ts', import.meta.url));

test('heap growth in a --max-old-space-size=64 child turns warning, then critical', { timeout: 60_000 }, async () => {
  // heap_size_limit also counts the young generation's reservation (3 × semi-space: 48 MiB on
  // Node 20 x64), which old-space data can never fill; with a 64 MiB old space the process would
  // die at ~45 % of the limit. A 1 MiB semi-space makes the limit ≈ the old space, as it is
  // (proportionally) for production-sized heaps.
  const child = spawn(process.execPath, ['--import', 'tsx', '--max-old-space-size=64', '--max-semi-space-size=1', fixture], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `child exited ${code}\nstdout:\n${out}\nstderr:\n${err.slice(-2000)}`);

  const events = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; status: string; heapSizeLimit?: number; heapUsedPercent?: number });
  const start = events[0]!;
  assert.equal(start.event, 'start');
  assert.equal(start.status, 'healthy');
  assert.ok(start.heapSizeLimit! < 128 * 1024 * 1024, `heap limit ${start.heapSizeLimit}`);
  const changes = events.filter((e) => e.event === 'status').map((e) => e.status);
  assert.deepEqual(changes, ['warning', 'critical'], out);
  const critical = events.find((e) => e.status === 'critical' && e.event === 'status')!;
  assert.ok(critical.heapUsedPercent! >= 85, out);
  assert.equal(events.at(-1)!.event, 'end');
});
