// Embedded L2: one file per key under `dir` (sharded by the first byte of sha256(key)), each a
// codec frame (header with magic, expiry, length, CRC-32, key, tags; then the payload).
// Writes go to dir/.headroom-tmp and are renamed into place (atomic); a write that its key, one of
// its tags or a clear invalidated before it landed discards its temp file instead (fence.ts). A
// byte cap and an entry cap are kept by evicting the least recently used files. At start the
// index is rebuilt from file headers in the background; reads go straight to the file, so they
// work before the scan ends.
// One process per directory: the index is not shared between processes.
// The directory may be shared with files that are not ours (a mistyped CACHE_DIR): a marker file
// claims it on first use, a non-empty directory without the marker is refused, and only files
// named like ours (64 hex digits in a two-hex-digit folder, our temp names) are ever deleted.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { makeDirSync } from '../../options/make-dir.js';
import { constants, mkdir, open, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, pipeline, type Readable } from 'node:stream';
import { HeadroomError } from '../../errors.js';
import {
  CorruptError,
  toBuffer,
  decodeFrame,
  decodeHeader,
  encodeHeader,
  headerLength,
  type Encoded,
  type Header,
  type Meta,
} from '../codec.js';
import { crc32 } from '../crc32.js';
import { resolveStoreOptions } from '../options.js';
import { DiskIndex } from './disk-index.js';
import { WriteFence, type Write } from './fence.js';
import {
  closedDuringWrite,
  closedStoreOp,
  NotStoredError,
  storeFailure,
  storeOp,
  type L2Store,
  type StoreStats,
  type StoreStreamEntry,
  writeEndedBy,
} from './types.js';
import { fsReason } from '../../options/user-files.js';

/** createCache's `disk` (defaults and bounds in src/cache/options.ts). */
export interface DiskStoreOptions {
  dir?: string;
  maxBytes?: number;
  /** Most files tracked (bounds the in-memory index). */
  maxEntries?: number;
  /** Largest value get() loads into memory; larger ones need getStream(). */
  maxGetBytes?: number;
}

/** Written on first use; a non-empty directory without it is not ours and is refused. */
export const MARKER = '.headroom-disk-cache';
const MARKER_TEXT = 'This directory belongs to the headroom disk cache (CACHE_DIR). Files in it may be deleted at any time.\n';
export const TMP_DIR = '.headroom-tmp';
const SWEEP_LIMIT = 10_000;
/** Age (by mtime) at which a temp file is a crashed write's leftover: a write in flight renews it with every chunk. */
export const TEMP_MAX_AGE = 3_600_000;
const SCAN_BATCH = 32;

export class DiskStore implements L2Store {
  readonly kind = 'disk' as const;
  /** Resolves when the start-up scan has rebuilt the index. */
  readonly ready: Promise<void>;
  /** Resolves when the directories exist and leftover temp files are gone (writes wait for it). */
  private readonly dirs: Promise<void>;
  private readonly dir: string;
  private readonly tmp: string;
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  /** Largest file get() reads into memory (maxGetBytes). */
  readonly maxGetBytes: number;
  private readonly index = new DiskIndex();
  private readonly fence = new WriteFence();
  private readonly pending = new Set<Promise<unknown>>();
  /** Operations in flight (reads, writes, invalidations): close() waits for them. */
  private readonly ops = new Set<Promise<unknown>>();
  /** Sources of streamed writes in flight: close() destroys them, as a next chunk may never come. */
  private readonly sources = new Set<Readable>();
  /** Streams handed out by getStream() and not ended: close() destroys them (each holds a file). */
  private readonly reading = new Set<Readable>();
  private errors = 0;
  private corrupt = 0;
  private evictions = 0;
  private seq = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** While the removals of a makeRoom() are under way. */
  private makingRoom = false;

  constructor(options: DiskStoreOptions) {
    const o = resolveStoreOptions('disk', options);
    this.dir = o.dir;
    this.maxBytes = o.maxBytes;
    this.maxEntries = o.maxEntries;
    this.maxGetBytes = o.maxGetBytes;
    this.tmp = join(this.dir, TMP_DIR);
    claimDir(this.dir);
    this.dirs = this.prepareDirs();
    this.ready = this.dirs.then(() => this.scan());
    this.ready.catch(() => undefined);
  }

  private pathOf(key: string): string {
    const h = hashOf(key);
    return join(this.dir, h.slice(0, 2), h);
  }

  /**
   * Runs a store operation (failures raised with store codes), refused once the store is closed:
   * nothing touches the directory after close() has resolved.
   */
  private op<T>(run: () => Promise<T>, source?: Readable): Promise<T> {
    if (this.closed) return this.refused(source);
    const p = storeOp('disk', run, source);
    this.ops.add(p);
    const done = (): void => void this.ops.delete(p);
    p.then(done, done);
    return p;
  }

  private refused<T>(source?: Readable): Promise<T> {
    return closedStoreOp('disk', source);
  }

  private tmpPath(): string {
    return join(this.tmp, `${process.pid}-${++this.seq}-${randomBytes(4).toString('hex')}.tmp`);
  }

  /** Reads or opens the key's file; a file that is gone is a miss and leaves the index. */
  private async orMiss<T>(key: string, path: string, access: () => Promise<T>): Promise<T | undefined> {
    try {
      return await access();
    } catch (err) {
      // A directory someone put under the entry's name: foreign, a miss that is removed (not a store failure).
      if (isDirectory(err) && (await isDirectoryAt(path))) return this.dropCorrupt(key, path);
      if (err instanceof CorruptError) return this.dropCorrupt(key, path);
      if (!isNotFound(err)) throw err;
      this.index.remove(key);
      return undefined;
    }
  }

  get(key: string): Promise<Encoded | undefined> {
    return this.op(async () => {
      const path = this.pathOf(key);
      const read = await this.orMiss(key, path, () => readBounded(path, this.maxGetBytes));
      if (read === undefined) return undefined;
      const { buf, ino } = read;
      let e: Encoded;
      try {
        e = decodeFrame(key, buf);
      } catch (err) {
        if (err instanceof CorruptError) return this.dropIfSame(key, path, ino, true);
        throw err;
      }
      if (e.staleUntil <= Date.now()) return this.dropIfSame(key, path, ino);
      if (!this.index.has(key)) this.track(key, buf.length, e);
      else this.index.touch(key);
      return e;
    });
  }

  set(key: string, entry: Encoded): Promise<void> {
    if (this.closed) return this.refused();
    const w = this.fence.begin(key, entry.tags);
    return this.op(async () => {
      try {
        // Header and payload are written as two parts: joined, a large value would be copied once more.
        const header = encodeHeader(key, entry, entry.payload.length, crc32(entry.payload));
        const size = header.length + entry.payload.length;
        await this.fitsOrDrop(key, size);
        const tmp = this.tmpPath();
        await this.ensureDirs(key);
        try {
          await writeFile(tmp, [header, entry.payload], { flag: 'wx' });
          await this.land(w, tmp, size, entry);
        } catch (err) {
          await rm(tmp, { force: true });
          if (isDiskFull(err)) this.makeRoom(size);
          throw err;
        }
      } finally {
        this.fence.end(w);
      }
    });
  }

  /**
   * Renames the temp file into place and indexes it, unless the write was invalidated meanwhile or
   * a newer write of the key has landed (or begun to): the last write called wins.
   */
  private async land(w: Write, tmp: string, size: number, meta: Meta): Promise<void> {
    const older = this.fence.olderLanding(w);
    if (older !== undefined) await older;
    if (w.doomed || this.fence.superseded(w)) return rm(tmp, { force: true });
    w.landing = renameOver(tmp, this.pathOf(w.key)).then(() => {
      this.fence.didLand(w);
      this.track(w.key, size, meta);
    });
    await w.landing;
  }

  setStream(key: string, readable: Readable, meta: Meta, size?: number): Promise<number> {
    // Synchronously, so that an invalidation called right after this call catches the write.
    if (this.closed) return this.refused(readable);
    const w = this.fence.begin(key, meta.tags);
    this.sources.add(readable);
    const written = this.op(() => this.writeStream(w, readable, meta, size), readable);
    const done = (): void => void this.sources.delete(readable);
    written.then(done, done);
    return written;
  }

  // Header length is known up front (fixed fields + key + tags): write a placeholder, stream the
  // payload, then write the real header (length, CRC) at offset 0 before the rename.
  private async writeStream(w: Write, readable: Readable, meta: Meta, size: number | undefined): Promise<number> {
    const key = w.key;
    let fh: FileHandle | undefined;
    let tmp: string | undefined;
    let pos = 0;
    try {
      const placeholder = encodeHeader(key, meta, 0, 0);
      await this.fitsOrDrop(key, placeholder.length + (size ?? 0));
      await this.ensureDirs(key);
      tmp = this.tmpPath();
      fh = await open(tmp, 'wx');
      await fh.write(placeholder, 0, placeholder.length, 0);
      pos = placeholder.length;
      let crc = 0;
      let bytes = 0;
      for await (const chunk of readable) {
        const b = toBuffer(chunk);
        bytes += b.length;
        if (size !== undefined && bytes > size) throw sizeMismatch(key, `exceeded its declared size ${size}`);
        this.checkFits(placeholder.length + bytes);
        if (this.closed) throw closedDuringWrite();
        crc = crc32(b, crc);
        await fh.write(b, 0, b.length, pos);
        pos += b.length;
      }
      if (size !== undefined && bytes !== size) throw sizeMismatch(key, `ended at ${bytes} bytes, declared ${size}`);
      const header = encodeHeader(key, meta, bytes, crc);
      await fh.write(header, 0, header.length, 0);
      await fh.close();
      fh = undefined;
      await this.land(w, tmp, pos, meta);
      return bytes;
    } catch (err) {
      await fh?.close().catch(() => undefined);
      if (tmp !== undefined) await rm(tmp, { force: true });
      if (isDiskFull(err)) this.makeRoom(Math.max(pos, BLOCK_BYTES));
      if (err instanceof NotStoredError) await this.remove(key);
      throw writeEndedBy(err, this.closed);
    } finally {
      this.fence.end(w);
    }
  }

  getStream(key: string): Promise<StoreStreamEntry | undefined> {
    return this.op(() => this.openStream(key));
  }

  private async openStream(key: string): Promise<StoreStreamEntry | undefined> {
    const path = this.pathOf(key);
    const fh = await this.orMiss(key, path, () => openEntry(path));
    if (fh === undefined) return undefined;
    let h: Header;
    let ino: number | undefined;
    try {
      const st = await fh.stat();
      ino = st.ino;
      h = await readHeader(fh, st.size);
      if (h.key !== key) throw new CorruptError('key mismatch');
      if (st.size !== h.headerLength + h.length) throw new CorruptError('truncated');
    } catch (err) {
      await fh.close().catch(() => undefined);
      if (err instanceof CorruptError) return ino === undefined ? this.dropCorrupt(key, path) : this.dropIfSame(key, path, ino, true);
      throw err;
    }
    if (h.staleUntil <= Date.now()) {
      await fh.close();
      return this.dropIfSame(key, path, ino);
    }
    this.index.touch(key);
    let crc = 0;
    const expected = h.crc;
    const fileIno = ino;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        crc = crc32(chunk, crc);
        cb(null, chunk);
      },
      flush: (cb) => {
        if (crc === expected) return cb();
        this.background(this.dropIfSame(key, path, fileIno, true));
        cb(new CorruptError(`checksum mismatch in ${key}`));
      },
    });
    const src = fh.createReadStream({ start: h.headerLength, autoClose: true });
    // Registered before pipeline's own listener: a read failure ends the stream with a store code.
    src.once('error', (err) => check.destroy(storeFailure('disk', err)));
    const stream = pipeline(src, check, () => undefined);
    this.reading.add(stream);
    stream.once('close', () => this.reading.delete(stream));
    return { stream, size: h.length, type: h.type, expiresAt: h.expiresAt, staleUntil: h.staleUntil, tags: h.tags };
  }

  // Each invalidation dooms the matching writes in flight first (synchronously, so a write called
  // before it is caught), then waits for any already landing, then removes what the index holds.
  delete(key: string): Promise<void> {
    return this.op(async () => {
      await this.fence.key(key);
      await this.remove(key, true);
    });
  }

  invalidateByTag(tag: string): Promise<void> {
    if (this.closed) return this.refused();
    const landed = this.fence.tag(tag);
    return this.op(async () => {
      await this.ready;
      await landed;
      await Promise.all(this.index.keysWithTag(tag).map((k) => this.remove(k, true)));
    });
  }

  clear(): Promise<void> {
    if (this.closed) return this.refused();
    const landed = this.fence.all();
    return this.op(async () => {
      await this.ready.catch(() => undefined);
      await Promise.all([...this.pending, landed]);
      this.index.clear();
      // Only our files go; shard folders stay (a write in flight renames into them).
      for (const shard of (await readdirOrNone(this.dir)).filter(isShard)) {
        const names = await readdir(join(this.dir, shard)).catch(() => [] as string[]);
        await Promise.all(names.filter(isEntryName).map((n) => unlinkQuiet(join(this.dir, shard, n))));
      }
    });
  }

  sweep(): Promise<void> {
    return this.op(async () => {
      const keys = this.index.expired(Date.now(), SWEEP_LIMIT).filter((k) => !this.fence.writing(k));
      await Promise.all(keys.map((k) => this.remove(k)));
      await this.removeOldTemps();
    });
  }

  stats(): StoreStats {
    return {
      bytes: this.index.bytes,
      entries: this.index.size,
      errors: this.errors,
      corrupt: this.corrupt,
      evictions: this.evictions,
      connected: !this.closed,
      keyCount: this.index.size,
    };
  }

  /**
   * Refuses new operations and waits for the start-up scan, background removals and operations in
   * flight; streamed writes are given up at once (their sources destroyed: a stalled source would
   * otherwise hold close() open). A second call returns the same promise.
   */
  close(): Promise<void> {
    this.closed = true;
    for (const source of this.sources) source.destroy();
    for (const stream of this.reading) stream.destroy();
    this.closing ??= (async () => {
      await this.ready.catch(() => undefined);
      while (this.pending.size > 0 || this.ops.size > 0) await Promise.allSettled([...this.pending, ...this.ops]);
    })();
    return this.closing;
  }

  /** The cap counts whole blocks (onDisk): a value within a block of it would evict everything, itself included. */
  private checkFits(bytes: number): void {
    if (onDisk(bytes) > this.maxBytes) throw new NotStoredError(`entry of ${bytes} bytes exceeds the disk cache cap ${this.maxBytes}`);
  }

  /** Refuses a value over the cap, first dropping the older value (it must not come back). */
  private async fitsOrDrop(key: string, bytes: number): Promise<void> {
    if (onDisk(bytes) <= this.maxBytes) return;
    await this.remove(key);
    this.checkFits(bytes);
  }

  /**
   * The folders a write needs. When the cache directory itself is gone (deleted at runtime: a tmp
   * cleaner, an operator), it is created again with its marker first, so the next start adopts it
   * instead of refusing it, and the index forgets the files that went with it.
   */
  private async ensureDirs(key: string): Promise<void> {
    await this.dirs;
    if ((await mkdir(this.dir, { recursive: true })) !== undefined) {
      this.index.clear();
      await writeFile(join(this.dir, MARKER), MARKER_TEXT, { flag: 'wx' }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException)?.code !== 'EEXIST') throw err;
      });
    }
    await mkdir(join(this.pathOf(key), '..'), { recursive: true });
    await mkdir(this.tmp, { recursive: true });
  }

  private track(key: string, size: number, meta: Meta): void {
    this.indexFile(key, size, meta);
    this.evictOver();
  }

  /** Indexes key's file of `size` bytes (counted in whole blocks). */
  private indexFile(key: string, size: number, meta: Pick<Meta, 'expiresAt' | 'staleUntil' | 'tags'>): void {
    this.index.add(key, { size: onDisk(size), expiresAt: meta.expiresAt, staleUntil: meta.staleUntil, tags: meta.tags });
  }

  /**
   * The volume is full (ENOSPC: smaller than maxBytes, or shared with other files): the least
   * recently used files go, at least twice the write that failed and a sixteenth of what is held,
   * so that the writes after it fit instead of failing one after another.
   */
  private makeRoom(bytes: number): void {
    // Once at a time: twenty writes failing together would otherwise take 1 − (15/16)^20 ≈ 72 %.
    if (this.makingRoom) return;
    const removals: Promise<unknown>[] = [];
    const target = Math.max(2 * onDisk(bytes), this.index.bytes / 16);
    for (let freed = 0; freed < target;) {
      const victim = this.index.oldest();
      if (victim === undefined) break;
      freed += this.index.get(victim)!.size;
      this.evictions++;
      const removal = this.remove(victim);
      removals.push(removal);
      this.background(removal);
    }
    this.makingRoom = true;
    void Promise.allSettled(removals).then(() => (this.makingRoom = false));
  }

  /** Evicts the least recently used files while the index is over a cap. */
  private evictOver(): void {
    while (this.index.bytes > this.maxBytes || this.index.size > this.maxEntries) {
      const victim = this.index.oldest();
      if (victim === undefined) break;
      this.evictions++;
      this.background(this.remove(victim));
    }
  }

  /**
   * Removes key's entry. An invalidation (`mustGo`: delete, invalidateByTag) whose file stays (a
   * read-only or failing disk) fails, with the entry indexed again (its tags still find it), so the
   * cache keeps the change to apply again instead of the value coming back; an eviction or expiry
   * only counts the error.
   */
  private async remove(key: string, mustGo = false): Promise<void> {
    const entry = this.index.get(key);
    this.index.remove(key);
    try {
      await unlinkQuiet(this.pathOf(key));
    } catch (err) {
      this.errors++;
      if (!mustGo) return;
      if (entry !== undefined && !this.index.has(key)) this.index.add(key, entry);
      throw err;
    }
  }

  /**
   * Removes an expired or corrupt file that was read, unless the key's file is no longer that one
   * (`ino`) or a write of the key is in flight: a newer value landing meanwhile must stay.
   */
  private async dropIfSame(key: string, path: string, ino: number, corrupt = false): Promise<undefined> {
    if (corrupt) this.corrupt++;
    const now = await stat(path).catch(() => undefined);
    if (this.fence.writing(key)) return undefined;
    // Gone already (removed by another path): nothing to remove, and not a file to count.
    if (now === undefined) {
      this.index.remove(key);
      return undefined;
    }
    if (now.ino !== ino) return undefined;
    if (corrupt) return this.removeCorrupt(key, path);
    await this.remove(key);
    return undefined;
  }

  private async dropCorrupt(key: string, path: string): Promise<undefined> {
    this.corrupt++;
    return this.removeCorrupt(key, path);
  }

  private async removeCorrupt(key: string, path: string): Promise<undefined> {
    this.index.remove(key);
    await unlinkQuiet(path).catch(() => {
      this.errors++;
    });
    return undefined;
  }

  private background(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async prepareDirs(): Promise<void> {
    await mkdir(this.tmp, { recursive: true });
    await this.removeOldTemps();
  }

  /**
   * Removes temp files of crashed writes (only names we generate) once they are TEMP_MAX_AGE old:
   * a young one may be a write in flight of another process on this directory (a second instance
   * by mistake, or the old one during a restart), whose rename would fail without it.
   */
  private async removeOldTemps(): Promise<void> {
    const names = (await readdirOrNone(this.tmp)).filter(isTempName);
    const old = Date.now() - TEMP_MAX_AGE;
    await Promise.all(
      names.map(async (n) => {
        const path = join(this.tmp, n);
        const st = await stat(path).catch(() => undefined);
        if (st !== undefined && st.mtimeMs < old) await unlinkQuiet(path);
      }),
    );
  }

  // Rebuilds the index from file headers: corrupt or expired files removed, and beyond maxEntries
  // the oldest (by mtime) removed, so the index stays bounded (at most twice maxEntries files are
  // held while scanning). Writes made during the scan are newer than every file found.
  private async scan(): Promise<void> {
    let found: Found[] = [];
    const shards = (await readdir(this.dir)).filter(isShard);
    const now = Date.now();
    for (const shard of shards) {
      if (this.closed) return;
      const names = (await readdir(join(this.dir, shard)).catch(() => [] as string[])).filter(isEntryName);
      for (let i = 0; i < names.length; i += SCAN_BATCH) {
        // Every file of the batch is settled before the next (and before indexing): one that cannot
        // be read is counted and left, and never hides the files that finish after it.
        const settled = await Promise.allSettled(
          names.slice(i, i + SCAN_BATCH).map(async (name) => {
            const path = join(this.dir, shard, name);
            const r = await inspect(path);
            if (r === undefined) {
              this.corrupt++;
              return unlinkQuiet(path);
            }
            if (r.header.staleUntil <= now) return unlinkQuiet(path);
            if (hashOf(r.header.key) !== name) return; // a sound frame under another name: not read, left alone
            found.push({ key: r.header.key, path, size: r.size, mtime: r.mtime, header: r.header });
          }),
        );
        for (const r of settled) if (r.status === 'rejected') this.errors++;
        if (found.length >= 2 * this.maxEntries) found = await this.keepNewest(found);
      }
    }
    found = await this.keepNewest(found);
    const writtenMeanwhile = [...this.index.keys()];
    for (const f of found.reverse()) if (!this.index.has(f.key)) this.indexFile(f.key, f.size, f.header);
    for (const key of writtenMeanwhile) this.index.touch(key);
    this.evictOver();
  }

  /** The newest maxEntries of `found`, newest first; the files of the others are removed. */
  private async keepNewest(found: Found[]): Promise<Found[]> {
    found.sort((a, b) => b.mtime - a.mtime);
    const dropped = found.splice(this.maxEntries);
    // A key written since it was found has a newer file: not this one to remove.
    const stale = dropped.filter((f) => !this.index.has(f.key) && !this.fence.writing(f.key));
    const removed = await Promise.allSettled(stale.map((f) => unlinkQuiet(f.path)));
    for (const r of removed) if (r.status === 'rejected') this.errors++;
    return found;
  }
}

/**
 * Opens an entry's file for reading. Not blocking: a FIFO someone put under an entry's name would
 * hold open() (and a thread of libuv's pool) until a writer came, hanging reads and the start-up
 * scan. A FIFO, socket or device there is foreign, like a bad file (a directory is handled where
 * it is read).
 */
async function openEntry(path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === 'ENXIO') throw new CorruptError('a socket where a cache file belongs');
    throw err;
  });
  const st = await fh.stat().catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  if (st.isFile() || st.isDirectory()) return fh;
  await fh.close();
  throw new CorruptError('a FIFO or device where a cache file belongs');
}

/** Reads a whole file (and its inode), refusing (before reading) one larger than `max`. */
async function readBounded(path: string, max: number): Promise<{ buf: Buffer; ino: number }> {
  const fh = await openEntry(path);
  try {
    const { size, ino } = await fh.stat();
    if (size > max)
      throw new HeadroomError('HEADROOM_CACHE_ENTRY_TOO_LARGE', `cached value of ${size} bytes is too large for get(); use getStream()`);
    return { buf: await fh.readFile(), ino };
  } finally {
    await fh.close();
  }
}

/**
 * The header of a file of `size` bytes. Its key and tag lengths come from the file: a damaged one
 * (up to 4 GiB each) is corrupt when the header would not fit in the file, before anything is
 * allocated for it.
 */
async function readHeader(fh: FileHandle, size: number): Promise<Header> {
  const first = Buffer.alloc(Math.min(4096, size));
  // A directory under an entry's name opens (Linux) but cannot be read: foreign, like a bad file.
  const { bytesRead } = await fh.read(first, 0, first.length, 0).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === 'EISDIR') throw new CorruptError('a directory where a cache file belongs');
    throw err;
  });
  const buf = first.subarray(0, bytesRead);
  const total = headerLength(buf);
  if (total === undefined) throw new CorruptError('bad magic or short file');
  if (total <= buf.length) return decodeHeader(buf);
  if (total > size) throw new CorruptError(`header of ${total} bytes in a file of ${size}`);
  const full = Buffer.alloc(total);
  const r = await fh.read(full, 0, total, 0);
  if (r.bytesRead < total) throw new CorruptError('truncated header');
  return decodeHeader(full);
}

/** Header, size and mtime of a file when its header is sound and its length adds up. */
async function inspect(path: string): Promise<{ header: Header; size: number; mtime: number } | undefined> {
  let fh: FileHandle | undefined;
  try {
    fh = await openEntry(path);
    const st = await fh.stat();
    const header = await readHeader(fh, st.size);
    if (st.size !== header.headerLength + header.length) return undefined;
    return { header, size: st.size, mtime: st.mtimeMs };
  } catch (err) {
    if (err instanceof CorruptError) return undefined;
    throw err;
  } finally {
    await fh?.close();
  }
}

interface Found {
  key: string;
  path: string;
  size: number;
  mtime: number;
  header: Header;
}

/**
 * Bytes a file of `size` takes on disk: whole 4 KiB blocks (ext4, xfs and tmpfs allocate no less),
 * so that maxBytes bounds the disk the cache uses, not only the bytes of its values.
 */
export const BLOCK_BYTES = 4096;
const onDisk = (size: number): number => Math.ceil(size / BLOCK_BYTES) * BLOCK_BYTES;

/** A directory's names; none when it is gone (deleted under a running store). */
async function readdirOrNone(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

const hashOf = (key: string): string => createHash('sha256').update(key).digest('hex');
const isShard = (name: string): boolean => /^[0-9a-f]{2}$/.test(name);
const isEntryName = (name: string): boolean => /^[0-9a-f]{64}$/.test(name);
const isTempName = (name: string): boolean => /^\d+-\d+-[0-9a-f]{8}\.tmp$/.test(name);

/**
 * Whether every name in `dir` is one the cache itself writes: its temp folder, and two-hex folders
 * holding only entry files. So is a cache whose marker is gone because the directory was made
 * again empty under a running store (`rm -rf dir && mkdir dir`), which then filled it.
 */
function holdsOnlyCacheFiles(dir: string, names: string[]): boolean {
  return names.every(
    (name) =>
      name === TMP_DIR || (isShard(name) && statSync(join(dir, name)).isDirectory() && readdirSync(join(dir, name)).every(isEntryName)),
  );
}

/**
 * Claims `dir` for the cache (synchronously, once at construction): creates it or adopts it when
 * empty, or holding only the cache's own files, by writing the marker; refuses any other non-empty
 * directory without the marker.
 */
function claimDir(dir: string): void {
  let names: string[];
  try {
    makeDirSync(dir);
    names = readdirSync(dir);
    if (names.includes(MARKER)) return;
    if (names.length === 0 || holdsOnlyCacheFiles(dir, names)) {
      // 'wx': when another store claims it at the same moment, theirs stands.
      writeFileSync(join(dir, MARKER), MARKER_TEXT, { flag: 'wx' });
      return;
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && existsSync(join(dir, MARKER))) return;
    const why = fsReason(err, dir, true);
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `disk cache directory ${dir} (CACHE_DIR / disk.dir): ${why}`, {
      cause: err,
    });
  }
  throw new HeadroomError(
    'HEADROOM_CONFIG_INVALID',
    `disk cache directory ${dir} (CACHE_DIR / disk.dir) is not empty and has no ${MARKER} marker, so it was not created by headroom and its files are not ours to delete. ` +
      `Point CACHE_DIR at a new or empty directory (headroom creates it), or, if it really is an old headroom cache, empty it first.`,
  );
}
const sizeMismatch = (key: string, what: string): HeadroomError =>
  new HeadroomError('HEADROOM_CACHE_STREAM_SIZE_MISMATCH', `stream for ${key} ${what}`);
const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT';
const isDiskFull = (err: unknown): boolean => ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException)?.code ?? '');

/** The codes an operation meant for a file gets on a directory (EPERM: unlink on some systems). */
const isDirectory = (err: unknown): boolean => ['EISDIR', 'ENOTEMPTY', 'EPERM'].includes((err as NodeJS.ErrnoException)?.code ?? '');
const isDirectoryAt = async (path: string): Promise<boolean> => (await stat(path).catch(() => undefined))?.isDirectory() ?? false;

/** Removes an entry's path; a directory someone put there (inside the cache's own folder) goes too. */
async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (isDirectory(err) && (await isDirectoryAt(path))) return rm(path, { recursive: true, force: true });
    if (!isNotFound(err)) throw err;
  }
}

/** rename(), over a directory someone put under the entry's name too (removed first). */
async function renameOver(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if (!isDirectory(err) || !(await isDirectoryAt(to))) throw err;
    await unlinkQuiet(to);
    await rename(from, to);
  }
}
