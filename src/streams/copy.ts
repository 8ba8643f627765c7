// streamCopyFile: a file copied through a bounded buffer (pipeline handles backpressure, errors and
// cleanup of both ends), instead of readFile + writeFile holding the whole file. The copy goes to a
// temporary file beside the destination, renamed over it once complete: a missing source, an abort
// or a failure midway leaves the destination as it was, and copying a file onto itself keeps it.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { checkInt, checkOptions, shown } from './check.js';

export interface StreamCopyOptions {
  /** Bytes read (and buffered) at a time; default 64 KiB, 1 KiB to 64 MiB. */
  highWaterMark?: number;
  signal?: AbortSignal;
}

const pathOf = (name: string, p: unknown): string => {
  if (p instanceof URL) return fileURLToPath(p);
  if (typeof p === 'string' && p !== '') return p;
  throw new TypeError(`streamCopyFile: ${name} must be a file path or a file: URL, got ${shown(p)}`);
};

/** What the temporary name adds to dest's: `.` before, `.` + 12 hex digits + `.part` after. */
const TEMP_EXTRA = 19;

/**
 * The temporary file's name, beside dest (the rename stays atomic): `.NAME.<12 hex>.part`, unique by
 * its 48 random bits (and opened with `wx`). A name longer than 40 bytes gives up as many of its last
 * characters as the temporary name adds, so the temporary name is never longer than dest's own, which
 * the filesystem must accept anyway (NAME_MAX, 255 bytes on most): counted in UTF-8 bytes and in
 * UTF-16 units, cut between characters.
 */
function tempName(name: string): string {
  const bytes = Buffer.byteLength(name);
  let keep = name;
  if (bytes > 40) {
    const byteBudget = bytes - TEMP_EXTRA;
    const unitBudget = name.length - TEMP_EXTRA;
    let usedBytes = 0;
    let usedUnits = 0;
    keep = '';
    for (const ch of name) {
      const b = Buffer.byteLength(ch);
      if (usedBytes + b > byteBudget || usedUnits + ch.length > unitBudget) break;
      keep += ch;
      usedBytes += b;
      usedUnits += ch.length;
    }
  }
  return `.${keep}.${randomBytes(6).toString('hex')}.part`;
}

/** Copies `src` to `dest` holding at most about two `highWaterMark` chunks in memory; `dest` is replaced only by a complete copy. */
export async function streamCopyFile(src: string | URL, dest: string | URL, options: StreamCopyOptions = {}): Promise<void> {
  checkOptions('streamCopyFile', options, ['highWaterMark', 'signal']);
  const highWaterMark = checkInt('streamCopyFile', 'highWaterMark', options.highWaterMark, 64 * 1024, 1024, 64 * 1024 ** 2);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError(`streamCopyFile: signal must be an AbortSignal or undefined, got ${shown(signal)}`);
  const from = pathOf('src', src);
  const to = pathOf('dest', dest);
  signal?.throwIfAborted();
  const temp = join(dirname(to), tempName(basename(to)));
  try {
    await pipeline(createReadStream(from, { highWaterMark }), createWriteStream(temp, { highWaterMark, flags: 'wx' }), { signal });
    await rename(temp, to);
  } catch (err) {
    // The copy's own error is the one to throw; a temp file that cannot be removed is said aloud.
    await rm(temp, { force: true }).catch((rmErr: Error) =>
      process.emitWarning(`streamCopyFile: could not remove the partial copy ${temp}: ${rmErr.message}`),
    );
    throw err;
  }
}
