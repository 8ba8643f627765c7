// collect() joins a streamed source into a buffer that owns its memory; freeCollected() frees it
// at once (detached, empty) and leaves every other buffer alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, freeCollected } from '../../src/image/read-source.js';

async function* chunks(n: number, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < n; i++) yield Buffer.alloc(size, i + 1);
}

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
  for (let i = 0; i < 50 && process.memoryUsage().arrayBuffers > before - 8 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(process.memoryUsage().arrayBuffers <= before - 8 * 1024 * 1024, 'the 8 MiB were released');
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
