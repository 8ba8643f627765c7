// streamCopyFile: a file copied through a bounded buffer (pipeline handles backpressure, errors and
// cleanup of both ends), instead of readFile + writeFile holding the whole file.
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { checkInt } from './check.js';

export interface StreamCopyOptions {
  /** Bytes read (and buffered) at a time; default 64 KiB, 1 KiB to 64 MiB. */
  highWaterMark?: number;
  signal?: AbortSignal;
}

/** Copies `src` to `dest` holding at most about two `highWaterMark` chunks in memory. */
export async function streamCopyFile(src: string | URL, dest: string | URL, options: StreamCopyOptions = {}): Promise<void> {
  const highWaterMark = checkInt('streamCopyFile', 'highWaterMark', options.highWaterMark, 64 * 1024, 1024, 64 * 1024 ** 2);
  await pipeline(createReadStream(src, { highWaterMark }), createWriteStream(dest, { highWaterMark }), { signal: options.signal });
}
