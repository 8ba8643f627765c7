// readSource() reads a body within its bounds (whole when small, head + rest when large);
// collect() joins a streamed source into a buffer that owns its memory; freeCollected() frees it
// at once (detached, empty) and leaves every other buffer alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { collect, freeCollected, HEAD_BYTES, readSource } from '../../src/image/read-source.js';
import { isHeadroomError } from '../../src/errors.js';
import { waitFor } from '../helpers/wait.js';

async function* chunks(n: number, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < n; i++) yield Buffer.alloc(size, i + 1);
}

const body = (n: number, size: number): Readable => Readable.from(chunks(n, size));
const code = (c: string) => (err: unknown) => isHeadroomError(err) && err.code === c;

test('readSource: a small body comes back whole, with or without a declared length', async () => {
  for (const declared of [300, undefined]) {
    const r = await readSource(body(3, 100), declared, 1000, 500);
    assert.equal(r.kind, 'buffer');
    assert.deepEqual(r.kind === 'buffer' && [r.bytes.length, r.bytes[0], r.bytes[100], r.bytes[299]], [300, 1, 2, 3]);
  }
});

test('readSource: a body that breaks its Content-Length fails, and nothing is returned to cache', async () => {
  await assert.rejects(readSource(body(4, 100), 300, 1000, 500), code('HEADROOM_IMAGE_FETCH_FAILED'));
  await assert.rejects(readSource(body(2, 100), 300, 1000, 500), code('HEADROOM_IMAGE_FETCH_FAILED'));
});

test('readSource: IMAGE_MAX_SOURCE_BYTES holds for declared and undeclared bodies', async () => {
  await assert.rejects(readSource(body(1, 10), 2000, 1000, 500), code('HEADROOM_IMAGE_TOO_LARGE'));
  await assert.rejects(readSource(body(20, 100), undefined, 1000, 5000), code('HEADROOM_IMAGE_TOO_LARGE'));
});

test('readSource: a large body comes back as its head plus the rest', async () => {
  const r = await readSource(body(4, HEAD_BYTES), 4 * HEAD_BYTES, 10 * HEAD_BYTES, 2 * HEAD_BYTES);
  assert.equal(r.kind, 'stream');
  if (r.kind !== 'stream') return;
  let rest = 0;
  for await (const c of r.rest) rest += c.length;
  assert.equal(r.head.length + rest, 4 * HEAD_BYTES);
});

test('collect joins head and rest, with and without a declared length', async () => {
  const head = Buffer.alloc(10, 9);
  const known = await collect(head, chunks(3, 100), 310);
  const unknown = await collect(head, chunks(3, 100));
  for (const b of [known, unknown]) {
    assert.equal(b.length, 310);
    assert.equal(b[0], 9);
    assert.equal(b[10], 1);
    assert.equal(b[309], 3);
  }
});

test('freeCollected detaches a collected buffer and its memory', async () => {
  const big = await collect(Buffer.alloc(1024), chunks(8, 1024 * 1024), 1024 + 8 * 1024 * 1024);
  const before = process.memoryUsage().arrayBuffers;
  freeCollected(big);
  assert.equal(big.length, 0);
  assert.equal(big.buffer.byteLength, 0);
  // The detached memory is returned once the undelivered message is dropped (no GC needed).
  await waitFor(() => process.memoryUsage().arrayBuffers <= before - 8 * 1024 * 1024, 'the 8 MiB to be released', 1000, 20);
  freeCollected(big); // twice is harmless
});

test('freeCollected leaves buffers it did not collect alone (cached sources, pooled buffers)', () => {
  const pooled = Buffer.from('tiny'); // shares Node's buffer pool
  const own = Buffer.alloc(64 * 1024);
  freeCollected(pooled);
  freeCollected(own);
  assert.equal(pooled.toString(), 'tiny');
  assert.equal(own.length, 64 * 1024);
});
