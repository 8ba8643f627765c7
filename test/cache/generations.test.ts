// Generations (src/cache/generations.ts) against a real redis-server: reads are batched (one MGET
// for everything due, one in flight), at most once per interval per generation, a changed token
// reports a known change, a first token only a learned one, a failed read keeps serving; and the
// map of followed tags is bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Generations, MAX_TAGS, type Gen } from '../../src/cache/generations.js';
import { redisOrSkip, startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const enabled = redisOrSkip('cache generations');

describe('cache generations', { skip: !enabled }, () => {
  let redis: RedisServer;
  let client: Redis;
  let n = 0;
  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    await waitFor(() => client.status === 'ready', 'client ready');
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
  });

  function make(o: { interval?: number; inUse?: (t: string) => boolean; now?: () => number } = {}) {
    const changes: [string | undefined, boolean][] = [];
    const gens = new Generations({
      client: () => client,
      prefix: `g${++n}:`,
      interval: o.interval ?? 1000,
      onChange: (tag, known) => changes.push([tag, known]),
      inUse: o.inUse ?? (() => true),
      now: o.now ?? Date.now,
    });
    return { gens, changes };
  }

  test('what is due is read in one MGET, at most once per interval; a first token is learned, a new one is a change', async () => {
    let clock = 1_000_000;
    const { gens, changes } = make({ interval: 100, now: () => clock });
    try {
      const tags = Array.from({ length: 50 }, (_, i) => `t${i}`);
      const all = gens.gensFor(tags)!;
      assert.equal(all.length, 51, 'the clear and each tag');
      assert.equal(gens.gensFor(undefined), gens.base);
      assert.equal(gens.valid(all, clock), true, 'served while the read is pending');
      assert.equal(gens.valid(all, clock), true);
      await waitFor(() => gens.stats().learned === 51, 'every generation learned');
      assert.deepEqual([gens.stats().checks, gens.stats().keysChecked], [1, 51], 'one MGET for all of them');
      assert.equal(changes.length, 51);
      assert.ok(
        changes.every(([, known]) => !known),
        'first tokens: learned, not changes',
      );
      assert.equal(gens.valid(all, clock), false, 'entries under the old Gens are read again');
      const current = gens.gensFor(['t0'])!;
      assert.equal(gens.valid(current, clock + 50), true);
      await new Promise((r) => setImmediate(r));
      assert.equal(gens.stats().checks, 1, 'not due before the interval');
      // Another instance invalidates t0: seen at the next read after the interval.
      await client.set(current[1]!.key, 'elsewhere');
      clock += 100;
      assert.equal(gens.valid(current, clock), true);
      await waitFor(() => gens.stats().changes === 1, 'the change seen');
      assert.deepEqual(changes.at(-1), ['t0', true]);
      assert.equal(gens.valid(current, clock), false);
      // Our own bump: known at once, nothing read.
      const before = gens.gensFor(['t1'])!;
      await gens.bump('t1');
      assert.equal(gens.valid(before, clock), false);
      assert.deepEqual(changes.at(-1), ['t1', true]);
      assert.equal(gens.stats().checks, 2);
    } finally {
      gens.close();
    }
  });

  test('a failed read counts an error, keeps serving and asks again one interval later', async () => {
    let clock = 1_000_000;
    const { gens, changes } = make({ interval: 100, now: () => clock });
    const down = new Redis(`redis://127.0.0.1:1`, { enableOfflineQueue: false, lazyConnect: true });
    const failing = new Generations({
      client: () => down,
      prefix: 'down:',
      interval: 100,
      onChange: (tag, known) => changes.push([tag, known]),
      inUse: () => true,
      now: () => clock,
    });
    try {
      const g = failing.gensFor(['t'])!;
      assert.equal(failing.valid(g, clock), true);
      await waitFor(() => failing.stats().errors === 1, 'the error counted');
      assert.equal(failing.valid(g, clock + 99), true);
      await new Promise((r) => setImmediate(r));
      assert.equal(failing.stats().checks, 1, 'not asked again before the interval');
      clock += 100;
      assert.equal(failing.valid(g, clock), true, 'still served');
      await waitFor(() => failing.stats().errors === 2, 'asked again');
      assert.equal(changes.length, 0);
    } finally {
      failing.close();
      gens.close();
      down.disconnect();
    }
  });

  test('the tags followed are bounded: beyond MAX_TAGS, tags absent from L1 are forgotten, else the entry stays out of L1', () => {
    let inUse = true;
    const { gens } = make({ inUse: () => inUse });
    try {
      for (let i = 0; i < MAX_TAGS; i++) assert.ok(gens.gensFor([`t${i}`]));
      assert.equal(gens.gensFor(['one-more']), undefined, 'full of tags in use');
      inUse = false;
      assert.equal(gens.gensFor(['one-more']), undefined, 'pruned at most once per interval');
      gens.prune(); // the cleanup timer's pass
      const g: Gen[] | undefined = gens.gensFor(['one-more']);
      assert.ok(g, 'room again');
      assert.equal(gens.stats().tracked, 2, 'the clear and the new tag');
    } finally {
      gens.close();
    }
  });
});
