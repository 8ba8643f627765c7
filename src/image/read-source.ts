// Reads a source body with its byte bound enforced while reading. Bodies up to `bufferLimit` come
// back whole (they will be cached); a larger one comes back as the bytes read so far plus the rest
// of the stream, so it can be passed through without ever being held whole.
import type { Readable } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';
import { HeadroomError } from '../errors.js';
import { discard } from './fetch-source.js';

/** Enough for sniffing and for the header (dimensions) of every supported format in practice. */
export const HEAD_BYTES = 64 * 1024;

export type ReadResult = { kind: 'buffer'; bytes: Buffer } | { kind: 'stream'; head: Buffer; rest: AsyncIterable<Buffer> };

const tooLarge = (max: number): HeadroomError =>
  new HeadroomError('HEADROOM_IMAGE_TOO_LARGE', `source image is larger than IMAGE_MAX_SOURCE_BYTES (${max} bytes)`);

export async function readSource(
  body: Readable,
  declaredLength: number | undefined,
  maxSourceBytes: number,
  bufferLimit: number,
): Promise<ReadResult> {
  if (declaredLength !== undefined && declaredLength > maxSourceBytes) {
    discard(body);
    throw tooLarge(maxSourceBytes);
  }
  // A declared large body is not buffered beyond its head.
  const limit = declaredLength !== undefined && declaredLength > bufferLimit ? Math.min(HEAD_BYTES, bufferLimit) : bufferLimit;
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    if (declaredLength !== undefined && declaredLength <= limit) return { kind: 'buffer', bytes: await readDeclared(it, declaredLength) };
    for (;;) {
      const { value, done } = await it.next();
      if (done) return { kind: 'buffer', bytes: Buffer.concat(chunks, total) };
      total += value.length;
      if (total > maxSourceBytes) throw tooLarge(maxSourceBytes);
      chunks.push(value);
      if (total > limit) return { kind: 'stream', head: Buffer.concat(chunks, total), rest: rest(body, it, total, maxSourceBytes) };
    }
  } catch (err) {
    discard(body);
    throw err;
  }
}

/**
 * A body of known, bufferable length, copied chunk by chunk into one buffer of that size as it
 * arrives. Joining the chunks at the end instead would copy a fresh megabyte in one go — a few ms
 * of page faults during which the event loop hands no finished decode its next source.
 */
async function readDeclared(it: AsyncIterator<Buffer>, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafeSlow(length);
  const at = await copyInto(out, 0, { [Symbol.asyncIterator]: () => it });
  // Unreachable with undici, which fails a short body itself; a short image is never cached.
  if (at < length) throw new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', 'image origin sent fewer bytes than its Content-Length');
  return out;
}

/** Copies chunks into `out` from `at` on; more bytes than `out` holds is an error. Returns the end. */
async function copyInto(out: Buffer, at: number, chunks: AsyncIterable<Buffer>): Promise<number> {
  for await (const c of chunks) {
    if (at + c.length > out.length)
      throw new HeadroomError('HEADROOM_IMAGE_FETCH_FAILED', 'image origin sent more bytes than its Content-Length');
    at += c.copy(out, at);
  }
  return at;
}

async function* rest(body: Readable, it: AsyncIterator<Buffer>, read: number, max: number): AsyncGenerator<Buffer> {
  let total = read;
  try {
    for (;;) {
      const { value, done } = await it.next();
      if (done) return;
      total += value.length;
      if (total > max) throw tooLarge(max);
      yield value;
    }
  } finally {
    discard(body);
  }
}

/**
 * Collects the rest of a streamed source for a transform (sharp would buffer a stream input the
 * same way). With a known length the bytes are copied into one buffer of that size, so the
 * source is not held twice while being joined. The result owns its memory: pass it to
 * freeCollected() once the transform is done with it.
 */
export async function collect(head: Buffer, restIt: AsyncIterable<Buffer>, declaredLength?: number): Promise<Buffer> {
  if (declaredLength !== undefined && declaredLength >= head.length) {
    const out = owned(declaredLength);
    const at = await copyInto(out, head.copy(out, 0), restIt);
    return at === declaredLength ? out : own(out.subarray(0, at));
  }
  const chunks = [head];
  let total = head.length;
  for await (const c of restIt) {
    chunks.push(c);
    total += c.length;
  }
  const out = owned(total);
  let at = 0;
  for (const c of chunks) at += c.copy(out, at);
  return out;
}

// Buffers over an ArrayBuffer of their own (never Node's shared pool), so freeCollected() may detach it.
const ownedBuffers = new WeakSet<Buffer>();
const own = (b: Buffer): Buffer => (ownedBuffers.add(b), b);
// allocUnsafeSlow: an ArrayBuffer of exactly n bytes, not zero-filled (collect() writes them all or
// returns only the part it wrote).
const owned = (n: number): Buffer => own(Buffer.allocUnsafeSlow(n));

/**
 * Frees a collect() buffer now rather than at some later GC. V8 counts ArrayBuffers as external
 * memory and only collects for it after tens of MiB have piled up, so a few finished 10+ MiB
 * sources would sit in RSS next to the one being decoded. Transferring the ArrayBuffer into a
 * message that is never delivered detaches it (the Buffer becomes empty) and frees its memory.
 * Call only when nothing (sharp included) uses the buffer any more; other buffers are left alone.
 */
export function freeCollected(buf: Buffer): void {
  if (!ownedBuffers.delete(buf) || buf.buffer.byteLength === 0) return;
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(null, [buf.buffer as ArrayBuffer]);
  port1.close();
  port2.close();
}
