// The disk spill (LOG_SHIP_SPILL_DIR) against a real sink on 127.0.0.1 that refuses, then returns:
// lines past the memory cap go to a file capped at spillMaxBytes instead of being dropped, count as
// pending, and arrive in order; a truncated or corrupted file is skipped with a counter.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
  closeSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createLogShipper, type LogShipperOptions } from '../../src/log/index.js';
import { SpillFile } from '../../src/log/spill.js';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { refuses } from '../helpers/options.js';
import { waitFor } from '../helpers/wait.js';
import { check, watched } from './accounting.js';
import { closeAllSinks, startSink } from './sinks.js';

const root = mkdtempSync(join(tmpdir(), 'headroom-spill-test-'));
after(async () => {
  await closeAllSinks();
  rmSync(root, { recursive: true, force: true });
});
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);

const FAST: LogShipperOptions = {
  flushInterval: 20,
  timeout: 300,
  retryDelay: 10,
  maxRetryDelay: 40,
  breakDuration: 100,
  retries: 100,
  maxBytes: 32 * 1024,
  concurrency: 1,
};
const pad = 'q'.repeat(150);

/** One spill file in `dir`, its path. */
function spillFile(dir: string): string {
  const files = readdirSync(dir);
  assert.equal(files.length, 1, `one spill file: ${files.join(', ')}`);
  return join(dir, files[0]!);
}

describe('log shipper: disk spill', () => {
  test('memory full: lines go to the spill file instead of being dropped, and arrive in order when the sink returns', async () => {
    await assertNoLeakedHandles(async () => {
      const dir = freshDir();
      const sink = await startSink('loki');
      await sink.stop();
      const shipper = createLogShipper({ ...FAST, url: sink.url, format: 'loki', spillDir: dir, spillMaxBytes: '2MiB' });
      const log = pino({ level: 'debug' }, shipper);
      await watched(shipper, async () => {
        for (let i = 0; i < 2000; i++) (i % 10 === 0 ? log.warn : log.info).call(log, { pad }, `s${i}`);
        const s = check(shipper.stats());
        assert.equal(s.dropped.cap, 0, 'nothing dropped while the spill has room');
        assert.ok(s.spill!.entries > 1500, `spilled: ${s.spill!.entries}`);
        assert.ok(statSync(spillFile(dir)).size > 1500 * pad.length, 'the lines are on disk');
        await sink.start();
        await waitFor(() => shipper.stats().pendingEntries === 0, 'backlog and spill delivered', 15_000);
      });
      const s = check(shipper.stats());
      assert.equal(s.sent, 2000, JSON.stringify(s));
      assert.equal(s.spill!.entries, 0);
      assert.ok(s.spill!.spilled > 1500 && s.spill!.readBack === s.spill!.spilled && s.spill!.refused === 0, JSON.stringify(s.spill));
      assert.equal(statSync(spillFile(dir)).size, 0, 'the file starts again from empty once read back');
      const got = sink.docs.map((d) => Number(String(d.msg).slice(1)));
      assert.equal(new Set(got).size, 2000, 'every line once');
      for (const level of [30, 40]) {
        const seq = sink.docs.filter((d) => d.level === level).map((d) => Number(String(d.msg).slice(1)));
        assert.deepEqual(
          seq,
          [...seq].sort((a, b) => a - b),
          `level ${level} in the order logged`,
        );
      }
      await shipper.close();
      assert.deepEqual(readdirSync(dir), [], 'close() removes the spill file');
      await sink.close();
    });
  });

  test('spill full too: the usual drop policy, the file never passes spillMaxBytes', async () => {
    await assertNoLeakedHandles(async () => {
      const dir = freshDir();
      const sink = await startSink('jsonl');
      await sink.stop();
      const spillMaxBytes = 64 * 1024;
      const shipper = createLogShipper({ ...FAST, url: sink.url, spillDir: dir, spillMaxBytes });
      const log = pino(shipper);
      await watched(shipper, async () => {
        for (let i = 0; i < 3000; i++) log.info({ pad }, `f${i}`);
      });
      const s = check(shipper.stats());
      assert.ok(s.dropped.cap > 1000, `dropped once both are full: ${s.dropped.cap}`);
      assert.ok(statSync(spillFile(dir)).size <= spillMaxBytes);
      assert.ok(s.spill!.bytes > spillMaxBytes - 1024, `the spill is used up to its cap: ${s.spill!.bytes}`);
      assert.equal(s.spill!.spilled, s.spill!.entries);
      // Every line the full file refused is counted; a cap drop may also make room for a batch body's own bytes (takeBatch).
      assert.ok(
        s.spill!.refused >= s.dropped.cap - 2,
        `lines the full file refused are counted: ${JSON.stringify(s.spill)} ${JSON.stringify(s.dropped)}`,
      );
      await shipper.close();
      const closed = check(shipper.stats());
      assert.equal(closed.pendingEntries, 0);
      assert.ok(closed.dropped.close > 0, 'what was spilled when close() gave up is counted (close)');
      assert.deepEqual(readdirSync(dir), []);
      assert.deepEqual([closed.spill!.entries, closed.spill!.bytes], [0, 0], 'the file is gone, and so are its bytes');
      await sink.close();
    });
  });

  test('a line nearly as large as the cap still leaves the spill (alone)', async () => {
    await assertNoLeakedHandles(async () => {
      const dir = freshDir();
      const sink = await startSink('loki');
      const shipper = createLogShipper({ ...FAST, url: sink.url, format: 'loki', concurrency: 4, spillDir: dir, spillMaxBytes: '1MiB' });
      const log = pino(shipper);
      log.info({ big: 'b'.repeat(31_000) }, 'big'); // more than the cap less the room kept for 4 bodies' stream headers
      log.info('small');
      assert.equal(shipper.stats().spill!.entries, 2, 'both went to the file (the small one after the big one)');
      await waitFor(() => shipper.stats().sent === 2, 'both delivered', 5000);
      const s = check(shipper.stats());
      assert.equal(s.dropped.cap + s.dropped.too_large, 0, JSON.stringify(s.dropped));
      assert.deepEqual(
        sink.docs.map((d) => d.msg),
        ['big', 'small'],
      );
      await shipper.close();
      await sink.close();
    });
  });

  for (const damage of ['truncated', 'corrupt'] as const) {
    test(`a ${damage} spill file: the unreadable lines are skipped (spill_corrupt), the rest delivered`, async () => {
      await assertNoLeakedHandles(async () => {
        const dir = freshDir();
        const sink = await startSink('jsonl');
        await sink.stop();
        const shipper = createLogShipper({ ...FAST, url: sink.url, spillDir: dir, spillMaxBytes: '1MiB' });
        const log = pino(shipper);
        for (let i = 0; i < 1000; i++) log.info({ pad }, `c${i}`);
        const before = check(shipper.stats());
        const file = spillFile(dir);
        const size = statSync(file).size;
        if (damage === 'truncated') truncateSync(file, Math.floor(size / 2));
        else {
          const fd = openSync(file, 'r+');
          writeSync(fd, Buffer.from('garbage!'), 0, 8, Math.floor(size / 2));
          closeSync(fd);
        }
        await sink.start();
        await watched(shipper, () => waitFor(() => shipper.stats().pendingEntries === 0, 'delivered or skipped', 15_000));
        const s = check(shipper.stats());
        assert.ok(s.dropped.spill_corrupt > 0 && s.dropped.spill_corrupt < before.spill!.entries, JSON.stringify(s.dropped));
        assert.equal(s.sent + s.dropped.spill_corrupt, 1000);
        assert.equal(sink.docs.length, s.sent);
        // The lines that arrived are the first ones, without a gap.
        assert.deepEqual(
          sink.docs.map((d) => d.msg),
          Array.from({ length: s.sent }, (_, i) => `c${i}`),
        );
        await shipper.close();
        await sink.close();
      });
    });
  }

  test('a steady backlog: the file takes lines while its unread bytes leave room (a ring), never grows past its cap, and reads back in order', () => {
    const maxBytes = 64 * 1024;
    const spill = new SpillFile(freshDir(), maxBytes);
    try {
      const record = 18 + 200; // header + line
      let written = 0;
      let read = 0;
      const line = (i: number) => ({ buf: Buffer.from(String(i).padStart(200, '-')), level: 30, time: i });
      // A backlog of ~40 lines, then 500 rounds of five lines out, five in: 20 times the cap written.
      while (written < 40) assert.ok(spill.append(line(written++)));
      for (let round = 0; round < 500; round++) {
        const { lines, skipped } = spill.read(5, () => true);
        assert.equal(skipped, 0);
        for (const l of lines) assert.equal(Number(l.buf.toString().replace(/^-+/, '')), read++, 'in order');
        for (let k = 0; k < 5; k++)
          assert.ok(spill.append(line(written++)), `refused at round ${round} holding ${spill.pendingBytes} of ${maxBytes} bytes`);
        assert.equal(spill.pendingBytes, spill.entries * record);
        assert.ok(statSync(spill.path).size <= maxBytes, `file ${statSync(spill.path).size} bytes`);
      }
      // Filled to the cap: refused only once the unread bytes (plus at most one record lost at the
      // end of the ring) leave no room.
      while (spill.append(line(written++)));
      assert.ok(spill.pendingBytes > maxBytes - 2 * record, `full at ${spill.pendingBytes} of ${maxBytes}`);
      assert.equal(spill.refused, 1);
      const { lines } = spill.read(10_000, () => true);
      for (const l of lines) assert.equal(Number(l.buf.toString().replace(/^-+/, '')), read++);
      assert.equal(read, written - 1);
      assert.equal(statSync(spill.path).size, 0, 'empty again once read back');
    } finally {
      spill.close();
    }
  });

  test('a record header claiming a line longer than the shipper keeps is corrupt, and nothing that long is allocated', () => {
    const spill = new SpillFile(freshDir(), 1024 ** 3, 16 * 1024);
    try {
      // 24 MB of lines; then the second record's length field (after the first: 18 + 3 bytes) claims 20 MB.
      assert.ok(spill.append({ buf: Buffer.from('one'), level: 30, time: 1 }));
      const filler = Buffer.alloc(12_000, 'f');
      for (let i = 0; i < 2000; i++) assert.ok(spill.append({ buf: filler, level: 30, time: 2 }));
      const fd = openSync(spill.path, 'r+');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(20_000_000);
      writeSync(fd, length, 0, 4, 21);
      closeSync(fd);
      const external = process.memoryUsage().arrayBuffers;
      const { lines, skipped } = spill.read(10, () => true);
      assert.ok(process.memoryUsage().arrayBuffers - external < 10_000_000, 'the claimed length was not allocated');
      assert.deepEqual(
        lines.map((l) => l.buf.toString()),
        ['one'],
      );
      assert.equal(skipped, 2000);
    } finally {
      spill.close();
    }
  });

  test('spill files left by processes that ended without close() are removed at start and counted; a running process keeps its file', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const ended = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that no longer runs
    const name = (pid: number) => `headroom-log-spill-${pid}-${randomUUID()}.bin`;
    const dead = join(dir, name(ended));
    const samePid = join(dir, name(process.pid)); // a container restarted with the same pid
    const running = join(dir, name(process.ppid));
    writeFileSync(dead, Buffer.alloc(1000));
    writeFileSync(samePid, Buffer.alloc(500));
    writeFileSync(running, Buffer.alloc(10));
    writeFileSync(join(dir, 'notes.txt'), 'not a spill file');
    const shipper = createLogShipper({ url: 'http://127.0.0.1:9/x', spillDir: dir });
    try {
      assert.deepEqual(shipper.stats().spill!.orphansRemoved, { files: 2, bytes: 1500 });
      const left = readdirSync(dir);
      assert.ok(!left.includes(basename(dead)) && !left.includes(basename(samePid)));
      assert.ok(left.includes(basename(running)) && left.includes('notes.txt'));
      // A second shipper of this process on the same directory leaves the first one's file alone.
      const second = createLogShipper({ url: 'http://127.0.0.1:9/x', spillDir: dir });
      assert.deepEqual(second.stats().spill!.orphansRemoved, { files: 0, bytes: 0 });
      assert.equal(readdirSync(dir).filter((f) => f.startsWith(`headroom-log-spill-${process.pid}-`)).length, 2);
      await second.close();
    } finally {
      await shipper.close();
    }
  });

  test('a spill directory that cannot be used, or a bad size, is refused naming the option', () => {
    const notADir = join(root, 'plain-file');
    writeFileSync(notADir, 'x');
    refuses(
      () => createLogShipper({ url: 'http://127.0.0.1:9/x', spillDir: notADir }),
      /spillDir=".*plain-file": it, or a folder on its path, is a file, not a directory: no spill file can be made there; give a writable directory/,
    );
    refuses(
      () => createLogShipper({ url: 'http://127.0.0.1:9/x', spillDir: root, spillMaxBytes: '1KB' }),
      /spillMaxBytes="1KB": must be a byte size between 64 KiB and 64 GiB/,
    );
    const { config } = loadConfig({ env: { LOG_SHIP_SPILL_DIR: '/var/spool/headroom', LOG_SHIP_SPILL_MAX_BYTES: '1GiB' } });
    assert.equal(config.log.spillDir, '/var/spool/headroom');
    assert.equal(config.log.spillMaxBytes, 1024 ** 3);
    assert.throws(
      () => loadConfig({ env: { LOG_SHIP_SPILL_MAX_BYTES: 'lots' } }),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.includes('LOG_SHIP_SPILL_MAX_BYTES')),
    );
  });
});
