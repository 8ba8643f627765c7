import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isHeadroomError } from '../../src/errors.js';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { createSnapshotWriter } from '../../src/monitor/snapshot.js';
import { fakeMemory } from './helpers.js';

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'headroom-snap-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const mode = (s: { mode: number }): number => s.mode & 0o777;

const refused = (pattern: RegExp) => (err: unknown) => {
  assert.ok(isHeadroomError(err), `expected a HeadroomError, got ${String(err)}`);
  assert.equal(err.code, 'HEADROOM_SNAPSHOT_REFUSED');
  assert.equal(err.statusCode, 409);
  assert.match(err.message, pattern);
  return true;
};

describe('writeHeapSnapshot', () => {
  test('writes a real snapshot into snapshotDir', async () => {
    const dir = join(await tempDir(), 'nested');
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir });
    const r = await monitor.writeHeapSnapshot();
    assert.ok(r.path.startsWith(dir) && r.path.endsWith('.heapsnapshot'), r.path);
    assert.ok(r.bytes > 100_000, `snapshot is ${r.bytes} bytes`);
    assert.ok(r.durationMs >= 0);
    assert.deepEqual(await readdir(dir), [r.path.slice(dir.length + 1)]);
    await monitor.close();
    await rm(r.path);
  });

  // A snapshot holds every string in the heap, tokens included.
  test('the directory is created 0700 (every level) and the file 0600', async () => {
    const parent = join(await tempDir(), 'a');
    const dir = join(parent, 'b');
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir });
    const r = await monitor.writeHeapSnapshot();
    await monitor.close();
    assert.equal(mode(await stat(parent)), 0o700);
    assert.equal(mode(await stat(dir)), 0o700);
    assert.equal(mode(await stat(r.path)), 0o600);
    await rm(r.path);
  });

  test('an existing directory of ours that others can open is tightened to 0700', async () => {
    const dir = join(await tempDir(), 'wide');
    await mkdir(dir);
    await chmod(dir, 0o755);
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir });
    const r = await monitor.writeHeapSnapshot();
    await monitor.close();
    assert.equal(mode(await stat(dir)), 0o700);
    await rm(r.path);
  });

  test('a shared (sticky) directory is not tightened: the snapshot is refused with how to fix it', async () => {
    const dir = join(await tempDir(), 'shared');
    await mkdir(dir);
    await chmod(dir, 0o1777);
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir });
    await assert.rejects(
      monitor.writeHeapSnapshot(),
      refused(/other users can open it \(mode 1777, .*point snapshotDir \(HEAP_SNAPSHOT_DIR in the gateway\) at a subdirectory/),
    );
    await monitor.close();
    assert.equal((await stat(dir)).mode & 0o7777, 0o1777, 'left as it was');
    assert.deepEqual(await readdir(dir), []);
  });

  test('refuses a second snapshot while one is being written', async () => {
    const dir = await tempDir();
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir });
    const first = monitor.writeHeapSnapshot();
    await assert.rejects(monitor.writeHeapSnapshot(), refused(/another heap snapshot request is being handled/));
    const r = await first;
    assert.equal((await readdir(dir)).length, 1);
    await rm(r.path);
    await monitor.close();
  });

  // Each snapshot stops the process while it is written: a client retrying at once must not keep
  // it stopped (health probes and requests wait meanwhile).
  test('after one snapshot the next waits nine times as long as it took (409, Retry-After)', async () => {
    const dir = await tempDir();
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir });
    const r = await monitor.writeHeapSnapshot();
    let retryAfter = '';
    await assert.rejects(monitor.writeHeapSnapshot(), (err: unknown) => {
      refused(new RegExp(`^the last heap snapshot stopped the process for ${r.durationMs} ms; the next can be taken in \\d+ s`))(err);
      retryAfter = (err as { headers: Record<string, string> }).headers['retry-after']!;
      return true;
    });
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= Math.ceil((9 * r.durationMs) / 1000), retryAfter);
    assert.equal((await readdir(dir)).length, 1, 'no second file');
    await rm(r.path);
    await monitor.close();
  });

  test('refuses when the disk has less room than the snapshot needs (nothing is written)', async () => {
    const dir = await tempDir();
    const petabyte = 2 ** 50;
    const writer = createSnapshotWriter({ dir, maxDirBytes: 2 ** 62, availableMemory: () => Infinity, heapUsed: () => petabyte });
    await assert.rejects(
      writer.write(),
      refused(/not enough free disk space in .* for a heap snapshot: .* free, about 1073741824\.0 MiB needed/),
    );
    assert.deepEqual(await readdir(dir), []);
  });

  test('refuses when the directory is over its byte cap', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'old.heapsnapshot'), Buffer.alloc(2 * 1024 * 1024));
    const monitor = createMemoryMonitor({ autoStart: false, snapshotDir: dir, snapshotMaxBytes: 1024 * 1024 });
    await assert.rejects(
      monitor.writeHeapSnapshot(),
      refused(
        /holds 2\.0 MiB; another snapshot of about .* would exceed its cap of 1\.0 MiB \(snapshotMaxBytes, HEAP_SNAPSHOT_DIR_MAX_BYTES in the gateway\)/,
      ),
    );
    assert.deepEqual(await readdir(dir), ['old.heapsnapshot']);
    await monitor.close();
  });

  test('refuses when the next snapshot (about the heap size) would push the directory over its cap', async () => {
    const dir = await tempDir();
    const mem = fakeMemory();
    mem.heapUsed = 64 * 1024 * 1024;
    const monitor = createMemoryMonitor({
      autoStart: false,
      sampler: mem.sampler,
      snapshotDir: dir,
      snapshotMaxBytes: 32 * 1024 * 1024,
      freeMemory: () => 2 ** 40,
    });
    await assert.rejects(
      monitor.writeHeapSnapshot(),
      refused(/holds 0\.0 MiB; another snapshot of about 64\.0 MiB would exceed its cap of 32\.0 MiB/),
    );
    assert.deepEqual(await readdir(dir), []);
    await monitor.close();
  });

  test('refuses when free memory is below 12× the heap (what V8 builds outside the heap for a snapshot)', async () => {
    const dir = await tempDir();
    const mem = fakeMemory();
    mem.heapUsed = 300 * 1024 * 1024;
    // 2 GiB free: twice the heap (the old guard) but a sixth of what a heap of small objects needs.
    const monitor = createMemoryMonitor({ autoStart: false, sampler: mem.sampler, snapshotDir: dir, freeMemory: () => 2048 * 1024 * 1024 });
    await assert.rejects(
      monitor.writeHeapSnapshot(),
      refused(/not enough free memory.*2048\.0 MiB free, about 3600\.0 MiB needed \(12× the 300\.0 MiB heap/),
    );
    assert.deepEqual(await readdir(dir), []);
    await monitor.close();
  });

  test('automatic snapshot on entering critical, rate-limited', async () => {
    const dir = await tempDir();
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({
      autoStart: false,
      sampler: mem.sampler,
      rssLimit: null,
      snapshotDir: dir,
      snapshotOnCritical: true,
      snapshotMinInterval: 3_600_000,
      freeMemory: () => Number.MAX_SAFE_INTEGER,
    });
    for (const r of [0.9, 0.1, 0.9]) {
      mem.setHeapRatio(r);
      monitor.sampleNow();
    }
    await monitor.close(); // waits for the automatic snapshot
    const files = await readdir(dir);
    assert.equal(files.length, 1, `files: ${files.join(', ')}`);
  });
});
