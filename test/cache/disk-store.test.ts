import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createCache } from '../../src/cache/index.js';
import { BLOCK_BYTES, DiskStore, MARKER, TEMP_MAX_AGE, TMP_DIR } from '../../src/cache/stores/disk.js';
import { waitFor } from '../helpers/wait.js';
import { storeContract, entry, meta } from './store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'headroom-disk-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `s${++n}`);

describe('disk store contract', () => {
  storeContract('disk', async () => {
    const s = new DiskStore({ dir: freshDir(), maxBytes: 64 * 1024 ** 2 });
    await s.ready;
    return s;
  });
});

/** The file of `key`'s entry under `dir`. */
function fileOf(dir: string, key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return join(dir, h.slice(0, 2), h);
}

/** Bytes a file of `size` takes on disk, as the store counts them. */
const blocks = (size: number): number => Math.ceil(size / BLOCK_BYTES) * BLOCK_BYTES;

function files(dir: string): string[] {
  return readdirSync(dir)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)));
}

describe('disk store', () => {
  test('survives a restart: values and tags are found again, the index is rebuilt', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    await a.set('k1', entry(Buffer.from('v1'), { tags: ['t'] }));
    await a.set('k2', entry(Buffer.from('v2')));
    await a.close();
    const b = new DiskStore({ dir });
    await b.ready;
    assert.equal(b.stats().entries, 2);
    assert.ok(b.stats().bytes > 0);
    assert.equal((await b.get('k1'))?.payload.toString(), 'v1');
    await b.invalidateByTag('t');
    assert.equal(await b.get('k1'), undefined);
    assert.equal((await b.get('k2'))?.payload.toString(), 'v2');
    await b.close();
  });

  test('truncated, garbled or foreign files are a miss and are removed (get, stream and restart scan)', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir });
    await s.ready;
    const payload = Buffer.alloc(5000, 7);
    await s.set('trunc', entry(payload));
    await s.set('garble', entry(payload));
    await s.set('stream', entry(payload));
    await s.set('header', entry(payload));
    const byKey = new Map<string, string>();
    for (const f of files(dir))
      for (const k of ['trunc', 'garble', 'stream', 'header']) if (readFileSync(f).includes(Buffer.from(k))) byKey.set(k, f);
    truncateSync(byKey.get('trunc')!, 3000);
    const g = readFileSync(byKey.get('garble')!);
    g[g.length - 100]! ^= 0xff; // payload bit flip: only the checksum can tell
    writeFileSync(byKey.get('garble')!, g);
    const st = readFileSync(byKey.get('stream')!);
    st[st.length - 1]! ^= 0xff;
    writeFileSync(byKey.get('stream')!, st);
    writeFileSync(byKey.get('header')!, Buffer.from('not a cache file'));
    assert.equal(await s.get('trunc'), undefined);
    assert.equal(await s.get('garble'), undefined);
    assert.equal(await s.get('header'), undefined);
    const streamed = await s.getStream('stream');
    assert.ok(streamed, 'length is fine, so the stream starts');
    await assert.rejects(
      async () => {
        for await (const _ of streamed.stream) void _;
      },
      { code: 'HEADROOM_CACHE_STORE_CORRUPT', message: /checksum/ },
    );
    assert.equal(s.stats().corrupt, 4);
    await waitFor(() => files(dir).length === 0, 'corrupt files to be removed');
    // A corrupt file found by the start-up scan is removed too.
    await s.set('later', entry(payload));
    truncateSync(files(dir)[0]!, 10);
    await s.close();
    const again = new DiskStore({ dir });
    await again.ready;
    assert.equal(again.stats().entries, 0);
    assert.equal(files(dir).length, 0);
    await again.close();
  });

  test('a file whose header claims a key or tags of up to 4 GiB is a miss and is removed, never a store failure (get, stream, restart scan)', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir });
    await s.ready;
    const damage = (offset: number): void => {
      for (const f of files(dir)) {
        const b = readFileSync(f);
        b.writeUInt32BE(0xffffffff, offset); // 36: key length, 40: tags length
        writeFileSync(f, b);
      }
    };
    for (const [offset, read] of [
      [36, 'getStream'],
      [40, 'getStream'],
      [36, 'get'],
    ] as const) {
      await s.set('k', entry(Buffer.alloc(5000, 7), { tags: ['t'] }));
      damage(offset);
      assert.equal(await s[read]('k'), undefined, `${read} with a damaged length at ${offset}`);
      assert.equal(files(dir).length, 0, 'removed');
    }
    assert.deepEqual([s.stats().corrupt, s.stats().errors], [3, 0]);
    await s.set('k', entry(Buffer.alloc(5000, 7)));
    await s.set('k2', entry(Buffer.alloc(5000, 8)));
    damage(36);
    await s.close();
    const again = new DiskStore({ dir });
    await again.ready;
    assert.deepEqual([again.stats().entries, again.stats().corrupt, again.stats().errors], [0, 2, 0]);
    assert.equal(files(dir).length, 0, 'the scan removed them');
    await again.close();
  });

  /** A ready store holding `name` and 'ok', and the path of `name`'s file (for a test to put something foreign there). */
  async function storeWith(name: string): Promise<{ dir: string; s: DiskStore; path: string }> {
    const dir = freshDir();
    const s = new DiskStore({ dir });
    await s.ready;
    await s.set(name, entry(Buffer.from('v')));
    await s.set('ok', entry(Buffer.from('fine')));
    return { dir, s, path: files(dir).find((f) => readFileSync(f).includes(Buffer.from(name)))! };
  }

  /** Closes `s` and opens its directory again: the start-up scan removed what is at `path`, kept 'ok' and counted no failure. */
  async function rescanRemoves(s: DiskStore, dir: string, path: string): Promise<void> {
    await s.close();
    const again = new DiskStore({ dir });
    await again.ready;
    assert.equal(existsSync(path), false);
    assert.equal((await again.get('ok'))?.payload.toString(), 'fine');
    assert.equal(again.stats().errors, 0);
    await again.close();
  }

  test("a directory where an entry's file belongs is a miss that is removed, not a store failure (get, set, restart scan)", async () => {
    const { dir, s, path } = await storeWith('bad');
    rmSync(path);
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    assert.equal(await s.get('bad'), undefined);
    assert.equal(s.stats().errors, 0, 'not counted as a store failure');
    assert.equal((await s.get('ok'))?.payload.toString(), 'fine');
    assert.equal(existsSync(path), false, 'the directory was removed');
    // A write onto a directory under the entry's name replaces it.
    mkdirSync(path);
    await s.set('bad', entry(Buffer.from('again')));
    assert.equal((await s.get('bad'))?.payload.toString(), 'again');
    // Found by the start-up scan: removed too.
    rmSync(path);
    mkdirSync(path);
    await rescanRemoves(s, dir, path);
  });

  test(
    "a FIFO where an entry's file belongs never blocks a read or the start-up scan: a miss that is removed",
    { timeout: 20_000 },
    async () => {
      const { dir, s, path } = await storeWith('fifo');
      const mkfifo = (): void => {
        rmSync(path, { force: true });
        execFileSync('mkfifo', [path]);
      };
      mkfifo();
      assert.equal(await s.get('fifo'), undefined);
      assert.equal(existsSync(path), false, 'the FIFO was removed');
      mkfifo();
      assert.equal(await s.getStream('fifo'), undefined);
      assert.equal(existsSync(path), false);
      assert.equal(s.stats().errors, 0, 'not counted as a store failure');
      // Found by the start-up scan (open() of a FIFO for reading waits for a writer): removed too.
      mkfifo();
      await rescanRemoves(s, dir, path);
    },
  );

  test('keeps its byte cap by evicting the least recently used files', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir, maxBytes: 1024 * 1024 });
    await s.ready;
    const v = Buffer.alloc(200 * 1024, 1);
    for (let i = 0; i < 4; i++) await s.set(`k${i}`, entry(v));
    assert.ok(await s.get('k0')); // k0 becomes most recently used
    for (let i = 4; i < 8; i++) await s.set(`k${i}`, entry(v));
    await s.close(); // waits for eviction unlinks
    const total = files(dir).reduce((sum, f) => sum + statSync(f).size, 0);
    assert.ok(total <= 1024 * 1024, `disk holds ${total} bytes`);
    assert.ok(s.stats().evictions >= 3);
    const r = new DiskStore({ dir, maxBytes: 1024 * 1024 });
    await r.ready;
    assert.ok(await r.get('k0'), 'recently used entry survived');
    assert.equal(await r.get('k1'), undefined, 'least recently used entry went first');
    await assert.rejects(r.set('huge', entry(Buffer.alloc(2 * 1024 * 1024))), {
      code: 'HEADROOM_CACHE_ENTRY_TOO_LARGE',
      message: /exceeds the disk cache cap/,
    });
    await r.close();
  });

  test('keeps its entry cap, also when rebuilding', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir, maxEntries: 5 });
    await s.ready;
    for (let i = 0; i < 12; i++) await s.set(`k${i}`, entry(Buffer.from(String(i))));
    await s.close();
    assert.equal(files(dir).length, 5);
    const r = new DiskStore({ dir, maxEntries: 3 });
    await r.ready;
    assert.equal(r.stats().entries, 3);
    await r.close();
    assert.equal(files(dir).length, 3);
  });

  test('a restart with a lower entry cap keeps the newest files', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    for (let i = 0; i < 40; i++) await a.set(`k${i}`, entry(Buffer.from(String(i))));
    await a.close();
    const base = Date.now() / 1000 - 1000;
    for (let i = 0; i < 40; i++) utimesSync(fileOf(dir, `k${i}`), base + i, base + i);
    const b = new DiskStore({ dir, maxEntries: 5 });
    await b.ready;
    const kept = [];
    for (let i = 0; i < 40; i++) if (await b.get(`k${i}`)) kept.push(i);
    assert.deepEqual(kept, [35, 36, 37, 38, 39]);
    await b.close();
  });

  test('writes made during the start-up scan are newer than every file it finds: they are not the ones evicted', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    await Promise.all(Array.from({ length: 1000 }, (_, i) => a.set(`old${i}`, entry(Buffer.from('o')))));
    await a.close();
    const b = new DiskStore({ dir, maxEntries: 1000 });
    let scanned = false;
    void b.ready.then(() => (scanned = true));
    const fresh = Array.from({ length: 20 }, (_, i) => `new${i}`);
    await Promise.all(fresh.map((k) => b.set(k, entry(Buffer.from('n')))));
    assert.ok(!scanned, 'the writes landed while the scan ran');
    await b.ready;
    assert.equal(b.stats().entries, 1000);
    for (const k of fresh) assert.ok(await b.get(k), `${k} was kept`);
    await b.close();
  });

  test('the byte cap counts whole 4 KiB blocks, the disk a file takes', async () => {
    const dir = freshDir();
    const maxBytes = 1024 ** 2; // the smallest cap: 256 blocks
    const s = new DiskStore({ dir, maxBytes });
    await s.ready;
    for (let i = 0; i < 300; i++) await s.set(`k${i}`, entry(Buffer.from('tiny')));
    assert.deepEqual([s.stats().entries, s.stats().bytes], [maxBytes / BLOCK_BYTES, maxBytes]);
    await s.close();
    assert.equal(files(dir).length, maxBytes / BLOCK_BYTES);
  });

  test('of two writes of one key in flight, the last called wins, also after a restart', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    const big = Buffer.alloc(4 * 1024 ** 2, 1);
    const keys = Array.from({ length: 5 }, (_, i) => `k${i}`);
    await Promise.all(keys.flatMap((k) => [a.set(k, entry(big)), a.set(k, entry(Buffer.from('new')))]));
    for (const k of keys) assert.equal((await a.get(k))?.payload.toString(), 'new', k);
    // Streamed writes too.
    await Promise.all(keys.flatMap((k) => [a.setStream(k, Readable.from([big]), meta()), a.set(k, entry(Buffer.from('newer')))]));
    await a.close();
    const b = new DiskStore({ dir });
    await b.ready;
    for (const k of keys) assert.equal((await b.get(k))?.payload.toString(), 'newer', k);
    await b.close();
  });

  test('writes of one key that keep coming still land: each one that finishes lands unless a newer one landed first', async () => {
    const s = new DiskStore({ dir: freshDir() });
    await s.ready;
    const sources = Array.from({ length: 5 }, () => new PassThrough());
    const writes = sources.map((src, i) => {
      src.write(Buffer.from(`v${i}-`));
      return s.setStream('k', src, meta());
    });
    const value = async (): Promise<string | undefined> => (await s.get('k'))?.payload.toString();
    sources[0]!.end('done');
    await writes[0];
    assert.equal(await value(), 'v0-done', 'the first to finish landed while four newer writes were still open');
    sources[2]!.end('done');
    await writes[2];
    assert.equal(await value(), 'v2-done');
    sources[1]!.end('done');
    await writes[1];
    assert.equal(await value(), 'v2-done', 'an older write finishing after a newer one landed does not land');
    sources[4]!.end('done');
    sources[3]!.end('done');
    await Promise.all(writes);
    assert.equal(await value(), 'v4-done');
    await s.close();
  });

  test('reading an expired value removes only that file: a value written meanwhile stays', async () => {
    const s = new DiskStore({ dir: freshDir() });
    await s.ready;
    const old = Buffer.alloc(4 * 1024 ** 2, 1);
    for (let round = 0; round < 5; round++) {
      const past = Date.now() - 1;
      await s.set('k', entry(old, { expiresAt: past, staleUntil: past }));
      const [read] = await Promise.all([s.get('k'), s.set('k', entry(Buffer.from(`fresh${round}`)))]);
      assert.ok(read === undefined || read.payload.toString() === `fresh${round}`);
      assert.equal((await s.get('k'))?.payload.toString(), `fresh${round}`, `round ${round}`);
      const streamedPast = Date.now() - 1;
      await s.set('s', entry(old, { expiresAt: streamedPast, staleUntil: streamedPast }));
      const [opened] = await Promise.all([s.getStream('s'), s.set('s', entry(Buffer.from(`fresh${round}`)))]);
      opened?.stream.destroy();
      assert.equal((await s.get('s'))?.payload.toString(), `fresh${round}`, `stream round ${round}`);
    }
    await s.close();
  });

  test('close() ends the streams getStream() handed out and nobody read: their files are closed', async () => {
    const openFiles = (): number => readdirSync('/proc/self/fd').length;
    const s = new DiskStore({ dir: freshDir() });
    await s.ready;
    await s.set('k', entry(Buffer.alloc(200_000, 3)));
    const before = openFiles();
    const streams = await Promise.all([s.getStream('k'), s.getStream('k')]);
    assert.ok(streams.every((e) => e !== undefined));
    await waitFor(() => openFiles() >= before + 2, 'both files to be open');
    await s.close();
    await waitFor(() => openFiles() <= before, 'the files to be closed');
    assert.ok(streams.every((e) => e!.stream.destroyed));
  });

  test('clear() after the directory was deleted under the store succeeds, and the store goes on working', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir });
    await s.ready;
    await s.set('k', entry(Buffer.from('v')));
    rmSync(dir, { recursive: true, force: true });
    await s.clear();
    await s.set('k2', entry(Buffer.from('v2')));
    assert.equal((await s.get('k2'))?.payload.toString(), 'v2');
    assert.equal(s.stats().errors, 0);
    await s.close();
  });

  test('a cache directory deleted at runtime is created again with its marker: the next start adopts it, the lost files are not counted', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    await a.set('k1', entry(Buffer.alloc(1000, 1), { tags: ['t'] }));
    await a.set('k2', entry(Buffer.alloc(1000, 2)));
    rmSync(dir, { recursive: true, force: true }); // a tmp cleaner
    await a.set('k3', entry(Buffer.from('v3')));
    await a.setStream('k4', Readable.from([Buffer.from('v4')]), meta());
    assert.ok(existsSync(join(dir, MARKER)), 'the marker is back');
    const sizes = files(dir).reduce((sum, f) => sum + blocks(statSync(f).size), 0);
    assert.deepEqual([a.stats().entries, a.stats().bytes], [2, sizes], 'only the files that exist are counted');
    await a.close();
    const b = new DiskStore({ dir }); // was refused: "not empty and has no .headroom-disk-cache marker"
    await b.ready;
    assert.equal((await b.get('k3'))?.payload.toString(), 'v3');
    assert.equal((await b.get('k4'))?.payload.toString(), 'v4');
    assert.equal(await b.get('k1'), undefined);
    assert.deepEqual([b.stats().entries, b.stats().bytes], [2, sizes]);
    await b.close();
  });

  test('a cache directory made again empty under a running store (its marker gone) is adopted at the next start', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir); // an operator's `rm -rf dir && mkdir dir`: the store's next write finds it there
    await a.set('k1', entry(Buffer.from('v1')));
    await a.close();
    assert.equal(existsSync(join(dir, MARKER)), false, 'the running store did not make it, so wrote no marker');
    const b = new DiskStore({ dir }); // was refused: "not empty and has no .headroom-disk-cache marker"
    await b.ready;
    assert.ok(existsSync(join(dir, MARKER)), 'adopted: the marker is written');
    assert.equal((await b.get('k1'))?.payload.toString(), 'v1');
    await b.close();
    // One file not named like the cache's among them, and it is someone's directory again.
    const other = freshDir();
    mkdirSync(join(other, 'ab'), { recursive: true });
    writeFileSync(join(other, 'ab', 'a'.repeat(64)), 'looks like an entry');
    writeFileSync(join(other, 'ab', 'notes.txt'), 'precious');
    assert.throws(() => new DiskStore({ dir: other }), /is not empty and has no \.headroom-disk-cache marker/);
  });

  test('a directory that is a file, or lies under one, is refused saying so', () => {
    const file = freshDir(); // a path not used yet: made a file here
    writeFileSync(file, 'x');
    for (const dir of [file, join(file, 'cache')]) {
      assert.throws(() => new DiskStore({ dir }), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: `disk cache directory ${dir} (CACHE_DIR / disk.dir): it, or a folder on its path, is a file, not a directory`,
      });
    }
  });

  test('a file the start-up scan cannot read is counted and left, and every other file of its folder is indexed', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    // Keys that share a folder (the scan reads a folder in batches) with an unreadable entry name.
    const shardOf = (k: string): string => createHash('sha256').update(k).digest('hex').slice(0, 2);
    const all = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    const shard = shardOf(all[0]!);
    const keys = all.filter((k) => shardOf(k) === shard).slice(0, 6);
    assert.ok(keys.length >= 4, 'keys in one folder');
    for (const k of keys) await a.set(k, entry(Buffer.alloc(1000, 1)));
    await a.close();
    const loop = join(dir, shard, shard + 'f'.repeat(62));
    symlinkSync(loop, loop); // open() fails with ELOOP: neither ours to read nor a miss
    const sizes = files(dir)
      .filter((f) => f !== loop)
      .reduce((sum, f) => sum + blocks(statSync(f).size), 0);
    const b = new DiskStore({ dir });
    await b.ready;
    assert.deepEqual([b.stats().entries, b.stats().bytes, b.stats().errors], [keys.length, sizes, 1]);
    await b.close();
  });

  test('leftover temp files an hour old are removed at start, younger ones by a sweep once they are', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir });
    await s.ready;
    const old = join(dir, TMP_DIR, '1234-7-0badf00d.tmp');
    const young = join(dir, TMP_DIR, '1234-8-0badf00d.tmp');
    writeFileSync(old, 'partial');
    writeFileSync(young, 'partial');
    const hourAgo = (Date.now() - TEMP_MAX_AGE - 1000) / 1000;
    utimesSync(old, hourAgo, hourAgo);
    await s.close();
    const r = new DiskStore({ dir });
    await r.ready;
    assert.deepEqual(readdirSync(join(dir, TMP_DIR)), ['1234-8-0badf00d.tmp'], 'a young one may be a write in flight');
    utimesSync(young, hourAgo, hourAgo);
    await r.sweep();
    assert.deepEqual(readdirSync(join(dir, TMP_DIR)), []);
    await r.close();
  });

  test('a second store started on the directory does not remove the writes in flight of the first', async () => {
    const dir = freshDir();
    const a = new DiskStore({ dir });
    await a.ready;
    const source = new PassThrough();
    const writing = a.setStream('k', source, meta());
    source.write(Buffer.alloc(1000, 1));
    await waitFor(() => readdirSync(join(dir, TMP_DIR)).length === 1, 'the write to be under way');
    const b = new DiskStore({ dir });
    await b.ready;
    source.end(Buffer.alloc(1000, 2));
    assert.equal(await writing, 2000);
    assert.equal((await a.get('k'))?.payload.length, 2000);
    await b.close();
    await a.close();
  });
});

describe('disk store only touches its own files', () => {
  /** Someone's folder: names that look like the cache's old layout (tmp/, two-hex folders). */
  function someonesFolder(dir: string): string[] {
    mkdirSync(join(dir, 'ab'), { recursive: true });
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    const paths = [join(dir, 'notes.txt'), join(dir, 'ab', 'photo.jpg'), join(dir, 'tmp', 'draft.txt')];
    for (const p of paths) writeFileSync(p, 'precious');
    return paths;
  }

  test('a non-empty directory without the marker is refused with a clear error, and nothing in it is touched', async () => {
    const dir = freshDir();
    const paths = someonesFolder(dir);
    assert.throws(
      () => new DiskStore({ dir }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
        assert.ok(err.message.includes(dir), err.message);
        assert.match(err.message, /CACHE_DIR/);
        assert.match(err.message, /new or empty directory/);
        return true;
      },
    );
    // The directory is checked synchronously before any file work starts.
    for (const p of paths) assert.equal(readFileSync(p, 'utf8'), 'precious', `${p} survived`);
    assert.equal(existsSync(join(dir, MARKER)), false);
  });

  test('a new or empty directory is claimed with a marker; reopening it works', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    const s = new DiskStore({ dir });
    await s.ready;
    assert.ok(existsSync(join(dir, MARKER)));
    await s.set('k', entry(Buffer.from('v')));
    await s.close();
    const again = new DiskStore({ dir });
    assert.equal((await again.get('k'))?.payload.toString(), 'v');
    await again.close();
  });

  test('start-up, the restart scan and clear() delete only files named like its own', async () => {
    const dir = freshDir();
    const s = new DiskStore({ dir });
    await s.ready;
    await s.set('k', entry(Buffer.from('v')));
    const paths = someonesFolder(dir);
    const foreignTmp = join(dir, TMP_DIR, 'not-ours.txt');
    writeFileSync(foreignTmp, 'precious');
    paths.push(foreignTmp);
    await s.close();
    const r = new DiskStore({ dir });
    await r.ready;
    assert.equal((await r.get('k'))?.payload.toString(), 'v');
    await r.clear();
    assert.equal(await r.get('k'), undefined);
    assert.equal(files(dir).filter((f) => /[0-9a-f]{64}$/.test(f)).length, 0, 'cache files are gone');
    await r.close();
    for (const p of paths) assert.equal(readFileSync(p, 'utf8'), 'precious', `${p} survived`);
  });
});

describe('disk store get() bound', () => {
  test('get() refuses a value larger than maxGetBytes before reading it; getStream() still works', async () => {
    const s = new DiskStore({ dir: freshDir(), maxGetBytes: 10_000 });
    await s.ready;
    await s.set('big', entry(Buffer.alloc(20_000, 1)));
    await assert.rejects(s.get('big'), { code: 'HEADROOM_CACHE_ENTRY_TOO_LARGE' });
    const st = await s.getStream('big');
    assert.equal(st?.size, 20_000);
    st?.stream.destroy();
    await s.close();
  });
});

// A disk that stops taking changes (remounted read-only, as a failing disk is): a real tmpfs,
// mounted for the test (root only; skipped, saying so, elsewhere).
function readOnlyCapableMount(t: {
  skip(message: string): void;
}): { dir: string; readOnly(on: boolean): void; unmount(): void } | undefined {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a tmpfs and remount it read-only');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'headroom-disk-ro-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here: ${(err as Error).message}`);
    return undefined;
  }
  return {
    dir,
    readOnly: (on) => execFileSync('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, dir]),
    unmount: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('disk store on a full disk', () => {
  test('a volume smaller than the byte cap: a write that finds it full makes room, and the writes after it fit', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
    const dir = mkdtempSync(join(tmpdir(), 'headroom-disk-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      return t.skip(`cannot mount a tmpfs here: ${(err as Error).message}`);
    }
    const s = new DiskStore({ dir: join(dir, 'cache'), maxBytes: 64 * 1024 ** 2 });
    try {
      await s.ready;
      let failed = 0;
      for (let i = 0; i < 2000; i++) await s.set(`k${i}`, entry(Buffer.alloc(1000, i & 0xff))).catch(() => failed++);
      assert.ok(failed > 0, 'the volume filled up');
      assert.ok(failed < 100, `${failed} of 2000 writes failed`);
      for (let i = 1990; i < 2000; i++) {
        await s.set(`last${i}`, entry(Buffer.from('v')));
        assert.equal((await s.get(`last${i}`))?.payload.toString(), 'v');
      }
    } finally {
      await s.close();
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('disk store on a disk that refuses changes', () => {
  test('a delete or tag invalidation whose file stays fails (the entry stays indexed); once the disk takes it, it is done', async (t) => {
    const disk = readOnlyCapableMount(t);
    if (!disk) return;
    const s = new DiskStore({ dir: join(disk.dir, 'cache'), maxBytes: 1024 ** 2 });
    try {
      await s.ready;
      await s.set('session:42', entry(Buffer.from('ada'), { tags: ['sessions'] }));
      await s.set('session:43', entry(Buffer.from('bob'), { tags: ['sessions'] }));
      disk.readOnly(true);
      try {
        await assert.rejects(s.delete('session:42'), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' });
        await assert.rejects(s.invalidateByTag('sessions'), { code: 'HEADROOM_CACHE_STORE_UNAVAILABLE' });
      } finally {
        disk.readOnly(false);
      }
      assert.equal((await s.get('session:42'))?.payload.toString(), 'ada', 'still there, and said so');
      assert.equal(s.stats().entries, 2, 'still indexed');
      await s.invalidateByTag('sessions'); // found by its tag again
      assert.equal(await s.get('session:42'), undefined);
      assert.equal(await s.get('session:43'), undefined);
      assert.equal(s.stats().entries, 0);
    } finally {
      await s.close();
      disk.unmount();
    }
  });

  test('through the cache: a deleted or invalidated value does not come back once the disk takes changes again', async (t) => {
    const disk = readOnlyCapableMount(t);
    if (!disk) return;
    const dir = join(disk.dir, 'cache');
    try {
      const c = createCache({ disk: { dir }, breakDuration: 50 });
      try {
        await c.set('session:42', { user: 'ada' });
        await c.set('session:43', { user: 'bob' }, { tags: ['sessions'] });
        disk.readOnly(true);
        try {
          await c.delete('session:42'); // the cache's contract: accepted, kept to apply again
          await c.invalidateByTag('sessions');
          const { unapplied } = c.stats().l2 as { unapplied: { keys: number; tags: number } };
          assert.deepEqual([unapplied.keys, unapplied.tags], [1, 1], 'both kept to apply again');
        } finally {
          disk.readOnly(false);
        }
        // L2 is read again once the breaker lets it, and the kept changes go first.
        const kept = (): number => (c.stats().l2 as { unapplied: { keys: number } }).unapplied.keys;
        await waitFor(async () => (await c.get('session:42')) === undefined && kept() === 0, 'the kept changes applied');
        assert.equal(await c.get('session:43'), undefined);
      } finally {
        await c.close();
      }
      const again = createCache({ disk: { dir } }); // and after a restart
      try {
        assert.equal(await again.get('session:42'), undefined);
        assert.equal(await again.get('session:43'), undefined);
      } finally {
        await again.close();
      }
    } finally {
      disk.unmount();
    }
  });
});
