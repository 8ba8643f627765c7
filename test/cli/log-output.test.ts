// headroom serve's stdout when its reader stops: at most 16 MiB of lines wait in memory, later
// ones are dropped — counted, and told in a warn line once the reader is back (a real FIFO whose
// reader first reads nothing, then everything).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { MAX_PENDING_BYTES, createLogOutput, type LogDrops } from '../../src/cli/log-output.js';
import { waitFor } from '../helpers/wait.js';

test('lines past the 16 MiB a stopped reader leaves pending are dropped, counted, and reported once it reads again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-log-output-'));
  const fifo = join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const out = createLogOutput(writer);
  try {
    const reports: LogDrops[] = [];
    out.onRecovered((since) => reports.push(since));
    const line = `${JSON.stringify({ level: 30, msg: 'x'.repeat(200) })}\n`;
    const size = Buffer.byteLength(line);
    const written = Math.ceil((MAX_PENDING_BYTES + 4 * 1024 ** 2) / size);
    for (let i = 0; i < written; i++) out.stream.write(line);
    const dropped = out.dropped();
    assert.ok(dropped.lines > 0, 'some lines dropped');
    assert.equal(dropped.bytes, dropped.lines * size, 'whole lines, counted in bytes too');
    assert.ok((written - dropped.lines) * size <= MAX_PENDING_BYTES + 1024 ** 2, 'no more than the cap (and the pipe) kept');
    assert.equal(reports.length, 0, 'nothing told while the reader is away');

    // The reader is back: everything kept arrives, then the loss is reported once.
    const expected = (written - dropped.lines) * size;
    const buf = Buffer.alloc(1024 * 1024);
    let got = 0;
    /** Reads the FIFO until `total` bytes have arrived in all (waiting out EAGAIN). */
    const readUntil = async (total: number): Promise<void> => {
      while (got < total) {
        try {
          got += readSync(reader, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
          await turn();
        }
      }
    };
    await readUntil(expected);
    assert.equal(got, expected, 'every line kept was written, whole');
    await waitFor(() => reports.length === 1, 'the loss reported once stdout took everything');
    assert.deepEqual(reports[0], dropped);
    // Logging on does not report the same loss again.
    out.stream.write(line);
    await readUntil(expected + size);
    await turn();
    assert.equal(reports.length, 1);
    assert.deepEqual(out.dropped(), dropped);
  } finally {
    await out.settle(1000);
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  }
});
