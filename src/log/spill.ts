// The optional disk spill of the log shipper: when the memory cap is full, lines go to a file
// capped in bytes (a ring: the lines read back make room for new ones) instead of being dropped,
// and are read back in order when the sink takes them again. One file per shipper, removed by
// close(): it outlasts an outage, not a restart. Writes are synchronous (the page cache; pino's own
// stdout destination writes synchronously too), so the line is on its way to disk before write() returns and nothing else
// waits in memory for it.
//
// Record: u32 payload length, u32 CRC-32 of the rest, u16 level, f64 time, the encoded line. A
// record that is short (the file was truncated) or fails its CRC ends the replay: its lines and
// every later one are skipped (`corrupt`), since the record boundaries after it cannot be trusted.
import { closeSync, ftruncateSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { makeDirSync } from '../options/make-dir.js';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER = 18;

export interface SpilledLine {
  buf: Buffer;
  level: number;
  time: number;
}

export class SpillFile {
  readonly path: string;
  private fd: number | undefined;
  /** Lines written and not yet read back (nor skipped). */
  entries = 0;
  /** Bytes written and not yet read back. */
  pendingBytes = 0;
  // The file is a ring of at most maxBytes: records are written at writeAt and read at readAt;
  // a record that does not fit before maxBytes goes to the start (when the lines read back left
  // room there), and wrapEnd is where the records before that point end. Only this process reads
  // the file, so these offsets live in memory (nothing on disk marks the wrap).
  private readAt = 0;
  private writeAt = 0;
  private wrapEnd: number | undefined;
  /** Lines skipped because their record was truncated or corrupt. */
  corrupt = 0;
  /** Lines ever appended (cumulative, for the metrics). */
  spilled = 0;
  /** Lines ever read back into memory (cumulative). */
  readBack = 0;
  /** Appends refused because the file was at maxBytes or the write failed (cumulative): those lines met the memory drop policy instead. */
  refused = 0;
  /** Spill files of processes that ended without close() (a crash, an OOM kill), removed at start. */
  readonly orphansRemoved: { files: number; bytes: number };

  /**
   * `maxLineBytes`: the longest line the shipper keeps (its memory cap); a record header claiming
   * more is corrupt, read as such before anything that long is allocated.
   */
  constructor(
    dir: string,
    readonly maxBytes: number,
    private readonly maxLineBytes = maxBytes,
  ) {
    makeDirSync(dir, 0o700);
    this.orphansRemoved = removeOrphans(dir);
    this.path = join(dir, `headroom-log-spill-${process.pid}-${randomUUID()}.bin`);
    this.fd = openSync(this.path, 'wx+', 0o600);
    openHere.add(this.path);
  }

  /**
   * Appends a line; false (nothing written) when the unread bytes would pass maxBytes, when there
   * is no room for it in the ring (at most one record's size is lost at the end of the file), or
   * when the write fails.
   */
  append(line: SpilledLine): boolean {
    if (this.fd === undefined) return false;
    const bytes = HEADER + line.buf.length;
    const at = this.pendingBytes + bytes > this.maxBytes ? undefined : this.placeFor(bytes);
    if (at === undefined) {
      this.refused++;
      return false;
    }
    const head = Buffer.allocUnsafe(HEADER);
    head.writeUInt32LE(line.buf.length, 0);
    head.writeUInt16LE(Math.max(0, Math.min(0xffff, Math.trunc(line.level))), 8);
    head.writeDoubleLE(line.time, 10);
    head.writeUInt32LE(crc32(line.buf, crc32(head.subarray(8))), 4);
    try {
      const wrote = writeSync(this.fd, Buffer.concat([head, line.buf]), 0, bytes, at);
      if (wrote !== bytes) throw new Error('short write');
    } catch {
      // ENOSPC, EIO or a short write: nothing points at what was written; the line is refused.
      this.refused++;
      return false;
    }
    if (at === 0 && this.writeAt > 0 && this.wrapEnd === undefined && this.entries > 0) this.wrapEnd = this.writeAt;
    this.writeAt = at + bytes;
    this.pendingBytes += bytes;
    this.entries++;
    this.spilled++;
    return true;
  }

  /** Where a record of `bytes` goes: after the last one, or at the start of the file once the end is reached. */
  private placeFor(bytes: number): number | undefined {
    if (this.entries === 0) return 0;
    if (this.wrapEnd !== undefined) return this.writeAt + bytes <= this.readAt ? this.writeAt : undefined;
    if (this.writeAt + bytes <= this.maxBytes) return this.writeAt;
    return bytes <= this.readAt ? 0 : undefined;
  }

  /**
   * Reads lines back in order while `fits(line)` accepts them (at most `max`). A truncated or
   * corrupt record ends the replay: the lines not read are counted in `corrupt` and returned as
   * `skipped` so the caller can count them as dropped.
   */
  read(max: number, fits: (line: SpilledLine) => boolean): { lines: SpilledLine[]; skipped: number } {
    const lines: SpilledLine[] = [];
    const head = Buffer.allocUnsafe(HEADER);
    while (this.fd !== undefined && this.entries > 0 && lines.length < max) {
      if (this.readAt === this.wrapEnd) {
        this.readAt = 0;
        this.wrapEnd = undefined;
      }
      const line = this.readOne(head);
      if (!line) return { lines, skipped: this.skipRest() };
      if (!fits(line)) break;
      this.readAt += HEADER + line.buf.length;
      this.pendingBytes -= HEADER + line.buf.length;
      this.entries--;
      this.readBack++;
      lines.push(line);
    }
    if (this.entries === 0) this.reset();
    return { lines, skipped: 0 };
  }

  private readOne(head: Buffer): SpilledLine | undefined {
    try {
      if (readSync(this.fd!, head, 0, HEADER, this.readAt) !== HEADER) return undefined;
      const length = head.readUInt32LE(0);
      if (length > this.maxLineBytes || this.readAt + HEADER + length > (this.wrapEnd ?? this.writeAt)) return undefined;
      const buf = Buffer.allocUnsafeSlow(length); // its own memory, not a pool slab (see owned() in formats.ts)
      if (readSync(this.fd!, buf, 0, length, this.readAt + HEADER) !== length) return undefined;
      if (crc32(buf, crc32(head.subarray(8))) !== head.readUInt32LE(4)) return undefined;
      return { buf, level: head.readUInt16LE(8), time: head.readDoubleLE(10) };
    } catch {
      return undefined;
    }
  }

  private skipRest(): number {
    const n = this.entries;
    this.corrupt += n;
    this.entries = 0;
    this.reset();
    return n;
  }

  /** Everything was read back: the file starts again from empty. */
  private reset(): void {
    this.readAt = 0;
    this.writeAt = 0;
    this.wrapEnd = undefined;
    this.pendingBytes = 0;
    try {
      if (this.fd !== undefined) ftruncateSync(this.fd, 0);
    } catch {
      // the next append writes at 0 regardless of what is past it
    }
  }

  /** Lines still in the file (the caller counts them as dropped); closes and removes the file. */
  close(): number {
    const n = this.entries;
    this.entries = 0;
    this.pendingBytes = 0; // the file is gone: stats() reads 0 bytes, not the last count
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      openHere.delete(this.path);
      rmSync(this.path, { force: true });
    }
    return n;
  }
}

const SPILL_NAME = /^headroom-log-spill-(\d+)-[0-9a-f-]{36}\.bin$/;
/** The spill files this process has open (another shipper on the same directory keeps its file). */
const openHere = new Set<string>();

/**
 * Removes the spill files in `dir` that no running process owns: their lines died with their
 * process (the ring's offsets were in its memory), and nothing else would ever remove them. A
 * file of a pid that runs is kept, unless the pid is ours (a container restarted with the same
 * pid). Unlinking a file another process still has open would not lose its lines (it reads and
 * writes through its descriptor), only free the name.
 */
function removeOrphans(dir: string): { files: number; bytes: number } {
  const removed = { files: 0, bytes: 0 };
  for (const name of readdirSync(dir)) {
    const pid = Number(SPILL_NAME.exec(name)?.[1] ?? NaN);
    const file = join(dir, name);
    if (!Number.isSafeInteger(pid) || openHere.has(file) || (pid !== process.pid && alive(pid))) continue;
    try {
      const { size } = statSync(file);
      rmSync(file, { force: true });
      removed.files++;
      removed.bytes += size;
    } catch {
      // gone meanwhile, or not ours to remove: left as it is
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // runs, as another user
  }
}
