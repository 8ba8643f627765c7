// Invalidations racing writes and reads in flight, through the two-tier cache (the gateway's
// case: a proxied response is cached in the background and an operator invalidates at once).
// Rounds are swept over event-loop turns and every round must hold, so no outcome depends on timing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { createCache, type Cache, type CacheOptions, type L1 } from '../../src/cache/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const root = mkdtempSync(join(tmpdir(), 'headroom-race-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const invalidations: [string, (c: Cache) => Promise<void>][] = [
  ['invalidateByTag', (c) => c.invalidateByTag('proxy')],
  ['delete', (c) => c.delete('k')],
  ['invalidateAll', (c) => c.invalidateAll()],
];

describe('cache with disk L2: invalidation racing work in flight', () => {
  test('a set() still writing to disk when its tag, key or everything is invalidated is gone from both tiers, also after a restart', async () => {
    for (const [what, invalidate] of invalidations) {
      const dir = join(root, `set-${++n}`);
      const c = createCache({ disk: { dir } });
      for (let turns = 0; turns < 12; turns++) {
        const write = c.set('k', `cached ${turns}`, { tags: ['proxy'] }); // not awaited, as the proxy does
        for (let i = 0; i < turns; i++) await turn();
        await invalidate(c);
        await write;
        assert.equal(await c.get('k'), undefined, `${what} after ${turns} turns`);
      }
      assert.equal(c.stats().l2?.errors, 0);
      await c.close();
      const again = createCache({ disk: { dir } });
      assert.equal(await again.get('k'), undefined, `${what}: not on disk`);
      await again.close();
    }
  });

  test('a read that overlaps an invalidation does not put the old value back into L1', async () => {
    for (const [what, invalidate] of invalidations) {
      const c = createCache({ disk: { dir: join(root, `read-${++n}`) } });
      const l1 = (c as unknown as { l1: L1 }).l1;
      for (let turns = 0; turns < 12; turns++) {
        await c.set('k', 'old', { tags: ['proxy'] });
        l1.delete('k'); // on disk only, so the read below goes to L2
        const inv = invalidate(c);
        for (let i = 0; i < turns; i++) await turn();
        const read = c.get('k'); // starts after the invalidation: may see the old value, must not keep it
        await Promise.all([inv, read]);
        assert.equal(l1.has('k'), false, `${what}, read after ${turns} turns: old value back in L1`);
        assert.equal(await c.get('k'), undefined, `${what} after ${turns} turns`);
      }
      await c.close();
    }
  });
});

const variants: [string, () => CacheOptions][] = [
  ['L1 only', () => ({ disk: false })],
  ['L1 + disk', () => ({ disk: { dir: join(root, `stream-${++n}`) } })],
];

for (const [name, opts] of variants) {
  test(`setStream (${name}): a stream still arriving when its tag, key or everything is invalidated is cached nowhere`, async () => {
    await assertNoLeakedHandles(async () => {
      const c = createCache(opts());
      for (const [what, invalidate] of invalidations) {
        const src = new PassThrough();
        const write = c.setStream('k', src, { tags: ['proxy'] });
        src.write(Buffer.from('first half '));
        await turn();
        await invalidate(c); // completes while the write waits for the rest
        src.end(Buffer.from('second half'));
        await write;
        assert.equal(await c.get('k'), undefined, what);
        // One that starts afterwards is cached as usual.
        await c.setStream('k', new PassThrough().end(Buffer.from('new')), { tags: ['proxy'] });
        assert.equal((await c.get<Buffer>('k'))?.toString(), 'new', what);
        await c.delete('k');
      }
      await c.close();
    });
  });
}
