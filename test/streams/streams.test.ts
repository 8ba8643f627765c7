// The stream and batch utilities with large inputs: memory stays bounded (RSS or heap sampled while
// they run), order and counts are right, bad options are refused by name.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkArray, createObjectPool, processBatch, streamCopyFile } from '../../src/streams/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const MiB = 1024 ** 2;

/** Runs `use` while sampling `read()` every 5 ms; returns the highest value seen above the start. */
async function peakRise(read: () => number, use: () => Promise<void>): Promise<number> {
  const start = read();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, read())), 5);
  try {
    await use();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, read()) - start;
}

describe('streamCopyFile', () => {
  test('copies a 1 GiB file with RSS rising by far less than the file', async () => {
    await assertNoLeakedHandles(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'headroom-copy-'));
      try {
        const src = join(dir, 'big');
        const f = await open(src, 'w');
        await f.truncate(1024 * MiB); // sparse: 1 GiB to read, no disk used
        await f.close();
        const rise = await peakRise(
          () => process.memoryUsage.rss(),
          () => streamCopyFile(src, '/dev/null', { highWaterMark: MiB }),
        );
        assert.ok(rise < 64 * MiB, `RSS rose by ${(rise / MiB).toFixed(1)} MiB copying 1 GiB`);
        // a real destination file gets every byte
        const small = join(dir, 'small');
        const g = await open(small, 'w');
        await g.write(Buffer.alloc(3 * MiB + 7, 1));
        await g.close();
        await streamCopyFile(small, join(dir, 'copy'));
        assert.equal((await stat(join(dir, 'copy'))).size, 3 * MiB + 7);
        await assert.rejects(streamCopyFile(join(dir, 'missing'), join(dir, 'x')), { code: 'ENOENT' });
        await assert.rejects(streamCopyFile(src, join(dir, 'x'), { highWaterMark: 10 }), /highWaterMark must be an integer from 1024/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('processBatch', () => {
  test('a lazy source of 1 GiB (1 KiB items): at most `concurrency` in flight, ordered results, bounded heap', async () => {
    const total = 1024 * 1024;
    let made = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < total; i++) {
        made++;
        const b = Buffer.allocUnsafe(1024);
        b.writeUInt32LE(i, 0);
        yield b;
      }
    }
    let running = 0;
    let most = 0;
    let results: number[] = [];
    const rise = await peakRise(
      () => process.memoryUsage().heapUsed,
      async () => {
        results = await processBatch(
          source(),
          async (b, i) => {
            running++;
            most = Math.max(most, running);
            assert.ok(made - i <= 5, 'the source is not read ahead');
            if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
            running--;
            return b.readUInt32LE(0);
          },
          { concurrency: 4 },
        );
      },
    );
    assert.equal(most, 4);
    assert.equal(results.length, total);
    for (let i = 0; i < total; i += 4099) assert.equal(results[i], i);
    // the results array (1 Mi small integers, ~8 MiB) is what stays; the 1 GiB of items does not. The
    // peak includes garbage not yet collected (CI under load saw 102 MiB): the bound is far from 1 GiB,
    // and "not read ahead" above is the exact check.
    assert.ok(rise < 256 * MiB, `heap rose by ${(rise / MiB).toFixed(1)} MiB`);
  });

  test('the first failure rejects and stops new calls; bad options are named', async () => {
    let calls = 0;
    await assert.rejects(
      processBatch(
        Array.from({ length: 100 }, (_, i) => i),
        async (i) => {
          calls++;
          await new Promise((r) => setImmediate(r));
          if (i === 10) throw new Error('boom');
        },
        { concurrency: 2 },
      ),
      /boom/,
    );
    assert.ok(calls <= 13, `${calls} calls`);
    await assert.rejects(
      processBatch([1], (x) => x, { concurrency: 0 }),
      /processBatch: concurrency must be an integer from 1/,
    );
    await assert.rejects(
      processBatch(42 as never, (x) => x),
      /processBatch: items must be an iterable/,
    );
  });
});

describe('the source and the destination are never damaged', () => {
  test('streamCopyFile replaces dest only with a complete copy: missing source, same file, abort, bad arguments', async () => {
    await assertNoLeakedHandles(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'headroom-copy-safe-'));
      try {
        const keep = join(dir, 'keep.txt');
        await writeFile(keep, 'precious bytes');
        await assert.rejects(streamCopyFile(join(dir, 'missing'), keep), { code: 'ENOENT' });
        assert.equal(await readFile(keep, 'utf8'), 'precious bytes', 'a missing source leaves dest as it was');
        await streamCopyFile(keep, keep);
        assert.equal(await readFile(keep, 'utf8'), 'precious bytes', 'a file copied onto itself keeps its bytes');
        const big = join(dir, 'big.bin');
        await writeFile(big, randomBytes(4 * MiB));
        const controller = new AbortController();
        controller.abort();
        await assert.rejects(streamCopyFile(big, keep, { signal: controller.signal }), { name: 'AbortError' });
        assert.equal(await readFile(keep, 'utf8'), 'precious bytes', 'an aborted copy leaves dest as it was');
        await assert.rejects(
          streamCopyFile(big, keep, { signal: 'x' as never }),
          /streamCopyFile: signal must be an AbortSignal or undefined, got "x" \(a string\)/,
        );
        await assert.rejects(
          streamCopyFile(big, 42 as never),
          /streamCopyFile: dest must be a file path or a file: URL, got 42 \(a number\)/,
        );
        await streamCopyFile(big, keep);
        assert.ok((await readFile(keep)).equals(await readFile(big)), 'a complete copy replaces dest');
        assert.deepEqual((await readdir(dir)).sort(), ['big.bin', 'keep.txt'], 'no temporary file is left');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  test('processBatch closes its source when a call fails (a generator runs its finally)', async () => {
    let closed = false;
    function* source(): Generator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    await assert.rejects(
      processBatch(source(), (i) => {
        if (i === 5) throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(closed, true);
  });

  test('createObjectPool refuses an object released twice (two acquires would share it)', () => {
    const pool = createObjectPool({ create: () => ({ n: 0 }) });
    const a = pool.acquire();
    pool.release(a);
    assert.throws(() => pool.release(a), /createObjectPool: release\(\) of an object that is already in the pool/);
    assert.equal(pool.acquire(), a);
    assert.notEqual(pool.acquire(), a);
  });

  test("createObjectPool refuses an object it did not hand out: made elsewhere, another pool's, or released already while the pool was full", () => {
    const pool = createObjectPool({ create: () => ({ n: 0 }), max: 1 });
    const other = createObjectPool({ create: () => ({ n: 0 }) });
    assert.throws(() => pool.release({ n: 0 }), /createObjectPool: release\(\) of an object that this pool's acquire\(\) did not hand out/);
    assert.throws(() => pool.release(other.acquire()), /did not hand out/);
    const [a, b] = [pool.acquire(), pool.acquire()];
    pool.release(a);
    pool.release(b); // the pool is full: b is left to the GC
    assert.throws(() => pool.release(b), /did not hand out \(or that was released already\)/);
    assert.equal(pool.size, 1);
    const again = pool.acquire(); // handed out again: it may be released again
    assert.equal(again, a);
    pool.release(again);
    // Primitives cannot be told apart: a pool of numbers keeps its old behaviour.
    let n = 0;
    const numbers = createObjectPool({ create: () => ++n });
    numbers.release(numbers.acquire());
    assert.equal(numbers.size, 1);
  });

  test('chunkArray checks its arguments at the call: size is required', () => {
    assert.throws(() => chunkArray([1, 2, 3], undefined as never), /chunkArray: size is required/);
    assert.throws(() => chunkArray(null as never, 2), /chunkArray: items must be an iterable or an async iterable, got null/);
  });
});

describe('chunkArray', () => {
  test('chunks a lazy 1 GiB source holding one chunk at a time', async () => {
    let made = 0;
    function* source(): Generator<Buffer> {
      for (let i = 0; i < 1024 * 1024; i++) {
        made++;
        yield Buffer.allocUnsafe(1024);
      }
    }
    let chunks = 0;
    let last = 0;
    const rise = await peakRise(
      () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers,
      async () => {
        for await (const c of chunkArray(source(), 1000)) {
          chunks++;
          last = c.length;
          assert.equal(made, chunks * 1000 > 1024 * 1024 ? 1024 * 1024 : chunks * 1000);
        }
      },
    );
    assert.equal(chunks, Math.ceil((1024 * 1024) / 1000));
    assert.equal(last, (1024 * 1024) % 1000);
    assert.ok(rise < 128 * MiB, `heap + array buffers rose by ${(rise / MiB).toFixed(1)} MiB`);
    const out: number[][] = [];
    for await (const c of chunkArray([1, 2, 3, 4, 5], 2)) out.push(c);
    assert.deepEqual(out, [[1, 2], [3, 4], [5]]);
    assert.throws(() => chunkArray([1], 0), /chunkArray: size must be an integer from 1/);
  });
});

describe('createObjectPool', () => {
  test('keeps at most `max` idle objects after a million uses', () => {
    const pool = createObjectPool({ create: (): Buffer => Buffer.alloc(1024), reset: (b) => b.fill(0), max: 8 });
    const out: Buffer[] = [];
    for (let round = 0; round < 10_000; round++) {
      for (let i = 0; i < 100; i++) out.push(pool.acquire());
      out[0]!.fill(1);
      for (const b of out) pool.release(b);
      out.length = 0;
      assert.ok(pool.size <= 8);
    }
    assert.equal(pool.size, 8);
    assert.ok(
      pool.acquire().every((x) => x === 0),
      'a released object is reset',
    );
    assert.throws(() => createObjectPool({ create: () => 1, max: 0 }), /createObjectPool: max must be an integer from 1/);
    assert.throws(() => createObjectPool({} as never), /create must be a function/);
    pool.clear();
    assert.equal(pool.size, 0);
  });
});
