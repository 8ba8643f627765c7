import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createL1 } from '../../src/cache/index.js';
import { mockClock } from './mock-clock.js';
import { ENTRY_OVERHEAD } from '../../src/cache/size.js';

describe('L1', () => {
  test('counts key, value and per-entry overhead against the byte budget', () => {
    const l1 = createL1({ maxBytes: 1024 * 1024, maxEntries: 1000 });
    l1.set('k', 'x'.repeat(1000));
    assert.ok(l1.bytes >= ENTRY_OVERHEAD + 1000, `bytes ${l1.bytes}`);
    l1.set('w', '✓'.repeat(1000)); // two-byte string
    assert.ok(l1.bytes >= 2 * ENTRY_OVERHEAD + 3000);
    l1.set('b', Buffer.alloc(5000));
    assert.ok(l1.bytes >= 3 * ENTRY_OVERHEAD + 8000);
    l1.delete('k');
    l1.delete('w');
    l1.delete('b');
    assert.equal(l1.bytes, 0);
  });

  test('never holds more bytes than its budget or more entries than its cap', () => {
    const l1 = createL1({ maxBytes: 50_000, maxEntries: 30 });
    for (let i = 0; i < 500; i++) {
      l1.set(`k${i}`, i % 2 ? 'v'.repeat(i * 3) : { i, s: 'abc'.repeat(i % 50) });
      assert.ok(l1.bytes <= 50_000 && l1.size <= 30);
    }
    assert.ok(l1.evictions.size + l1.evictions.entries >= 470);
  });

  test('values larger than maxEntryBytes skip L1 (and replace an older copy)', () => {
    const l1 = createL1({ maxBytes: 100_000, maxEntryBytes: 10_000 });
    assert.equal(l1.set('k', 'small'), true);
    assert.equal(l1.set('k', Buffer.alloc(20_000)), false);
    assert.equal(l1.get('k'), undefined);
    assert.equal(l1.evictions.too_large, 1, 'counted: without an L2 nothing stored it');
  });

  test('SIEVE keeps entries that were hit and evicts the unvisited first', () => {
    const l1 = createL1({ maxEntries: 3, maxBytes: 1e9 });
    l1.set('a', 1);
    l1.set('b', 2);
    l1.set('c', 3);
    assert.equal(l1.get('a'), 1);
    l1.set('d', 4); // evicts b (oldest unvisited), not a
    assert.equal(l1.has('a'), true);
    assert.equal(l1.has('b'), false);
    assert.equal(l1.has('c'), true);
  });

  test('the entry just stored is never the one evicted, also when every older entry was read', () => {
    const byCount = createL1({ maxEntries: 2, maxBytes: 1e9 });
    byCount.set('a', 1);
    byCount.set('b', 2);
    byCount.get('a');
    byCount.get('b');
    assert.equal(byCount.set('c', 3), true);
    assert.equal(byCount.get('c'), 3);
    assert.equal(byCount.size, 2);
    const one = 'x'.repeat(1000);
    const byBytes = createL1({ maxBytes: 2 * 1024 ** 2, maxEntryBytes: 1024 ** 2 });
    const big = 'y'.repeat(900_000);
    byBytes.set('a', big);
    byBytes.set('b', big);
    byBytes.get('a');
    byBytes.get('b');
    assert.equal(byBytes.set('c', big, { tags: [one] }), true);
    assert.equal(byBytes.get('c'), big);
    assert.ok(byBytes.bytes <= 2 * 1024 ** 2);
  });

  test('set() refuses a ttl or tags the cache would refuse, naming them', () => {
    const l1 = createL1();
    for (const ttl of [NaN, 0, -5, '5m', 1e20])
      assert.throws(() => l1.set('k', 1, { ttl: ttl as number }), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: /ttl=.*milliseconds above 0/,
      });
    assert.throws(() => l1.set('k', 1, { tags: 'users' as unknown as string[] }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /tags must be an array/,
    });
    assert.throws(() => l1.set('k', 1, { ttl: 5, grace: 5 } as never), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /unknown option grace; accepted: ttl, tags/,
    });
    assert.equal(l1.size, 0);
  });

  test('binary values are copied into owned memory and come back as Buffers', () => {
    const l1 = createL1();
    const src = new Uint8Array([1, 2, 3]);
    l1.set('u8', src);
    src[0] = 9;
    const got = l1.get('u8');
    assert.ok(Buffer.isBuffer(got));
    assert.deepEqual([...(got as Buffer)], [1, 2, 3]);
    // A small view into a large ArrayBuffer must not keep the large one alive.
    const big = Buffer.alloc(1024 * 1024);
    l1.set('view', big.subarray(0, 10));
    assert.equal((l1.get('view') as Buffer).buffer.byteLength, 10);
  });

  test('objects are stored as a private copy', () => {
    const l1 = createL1();
    const obj = { a: 1, nested: { b: [1, 2] } };
    l1.set('o', obj);
    obj.nested.b.push(3);
    assert.deepEqual(l1.get('o'), { a: 1, nested: { b: [1, 2] } });
  });

  test('TTL expiry, sweep and tag deletion', async (t) => {
    await mockClock(t);
    const l1 = createL1();
    l1.set('short', 'x', { ttl: 20, tags: ['t'] });
    l1.set('swept', 'x', { ttl: 20 });
    l1.set('long', 'y', { ttl: 60_000, tags: ['t', 'u'] });
    l1.set('other', 'z', { tags: ['u'] });
    t.mock.timers.tick(19);
    assert.equal(l1.get('short'), 'x');
    t.mock.timers.tick(1);
    assert.equal(l1.get('short'), undefined);
    assert.equal(l1.sweep(), 1, 'only the one get() did not already drop');
    assert.equal(l1.evictions.expired, 2);
    assert.equal(l1.has('swept'), false);
    assert.equal(l1.deleteTag('t'), 1);
    assert.equal(l1.has('long'), false);
    assert.equal(l1.has('other'), true);
  });

  test('refuses nonsense limits', () => {
    assert.throws(() => createL1({ maxBytes: -1 }), { code: 'HEADROOM_CONFIG_INVALID', message: /^createL1: maxBytes=-1: / });
    assert.throws(() => createL1({ maxEntries: 0 }), { code: 'HEADROOM_CONFIG_INVALID', message: /^createL1: maxEntries=0: / });
    assert.throws(() => createL1({ maxEntryBytes: 1.5 }), { code: 'HEADROOM_CONFIG_INVALID', message: /^createL1: maxEntryBytes=1.5: / });
  });

  test('setLimit shrinks at once and clears at zero', () => {
    const l1 = createL1({ maxBytes: 100_000 });
    for (let i = 0; i < 100; i++) l1.set(`k${i}`, 'x'.repeat(500));
    l1.setLimit(30_000);
    assert.ok(l1.bytes <= 30_000);
    assert.ok(l1.evictions.pressure > 0);
    l1.setLimit(0);
    assert.equal(l1.size, 0);
    assert.equal(l1.set('k', 'v'), false);
    l1.setLimit(100_000);
    assert.equal(l1.set('k', 'v'), true);
  });
});
