// Three caches sharing a real redis-server, with invalidation messages lost on purpose: by key, by
// tag and by clear, an instance stops serving the old value at once when the bus works, and
// within maxStale (tags and clears: within the generation check) when every message is lost;
// a bus gap or a subscriber reconnect makes L1 read its copies again; with Redis stopped, every
// read is served from L1 at once and nothing fails. Skips loudly without redis-server (never in CI).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCache, type Cache, type CacheOptions } from '../../src/cache/index.js';
import { registerCacheMetrics } from '../../src/metrics/cache.js';
import { cacheAdminRoutes } from '../../src/server/routes/cache.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { redisOrSkip, startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const enabled = redisOrSkip('cache staleness across instances');

/** A switchable fault: drops every incoming message while `on`, or only the next `next` ones. */
class Faults {
  on = false;
  next = 0;
  drops = 0;
  dropIncoming(): boolean {
    const drop = this.next > 0 || this.on;
    if (this.next > 0) this.next--;
    if (drop) this.drops++;
    return drop;
  }
}

interface Node {
  cache: Cache;
  faults: Faults;
}

describe('cache staleness across instances', { skip: !enabled }, () => {
  let redis: RedisServer;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  async function cluster(count: number, o: Partial<CacheOptions> = {}): Promise<Node[]> {
    const keyPrefix = `s${++n}:`;
    const nodes = Array.from({ length: count }, (): Node => {
      const faults = new Faults();
      return { faults, cache: createCache({ redis: { url: redis.url, keyPrefix }, breakDuration: 100, busFaults: faults, ...o }) };
    });
    await waitFor(
      () => nodes.every(({ cache }) => cache.stats().l2?.connected && cache.stats().bus?.connected),
      'every instance connected and subscribed',
    );
    return nodes;
  }
  const closeAll = (nodes: Node[]): Promise<unknown> => Promise.all(nodes.map((x) => x.cache.close()));
  const received = (x: Node): number => x.cache.stats().bus?.received ?? 0;

  /**
   * Has `x` read the clear's generation once (serving an L1 copy asks for it): until then an L1
   * copy may be read again at any time, which would hide a lost message.
   */
  async function generationsKnown(x: Node): Promise<void> {
    await x.cache.set('probe', 1);
    await waitFor(async () => {
      await x.cache.get('probe');
      return (x.cache.stats().coherence?.generations.learned ?? 0) >= 1;
    }, 'the clear generation read once');
    await x.cache.get('probe'); // the copy read again under the known generation
  }
  const revalidations = (x: Node): number => x.cache.stats().coherence?.revalidations ?? 0;

  /** Warms `key` into every instance's L1 and returns the value each one serves. */
  async function warm(nodes: Node[], key: string): Promise<unknown[]> {
    return Promise.all(nodes.map((x) => x.cache.get(key)));
  }

  /**
   * Reads `key` on `x` until it no longer returns `old`; returns how long after `since` (ms) the
   * last read that still returned it had started.
   */
  async function lastOld(x: Node, key: string, old: unknown, since: number, timeout: number): Promise<number> {
    let last = -Infinity;
    await waitFor(
      async () => {
        const started = Date.now();
        const v = await x.cache.get(key);
        if (v !== old) return true;
        last = started - since;
        return false;
      },
      `the old value of ${key} to be gone`,
      timeout,
      5,
    );
    return last;
  }

  test('with the bus working, a delete, a tag invalidation and a clear reach every instance as soon as the message arrives', async () => {
    const nodes = await cluster(3, { maxStale: 60_000, generationCheckInterval: 60_000 });
    const [a, b, c] = nodes as [Node, Node, Node];
    try {
      await a.cache.set('k', 'v1');
      await a.cache.set('t', 'tagged', { tags: ['users'] });
      await a.cache.set('x', 'x');
      assert.deepEqual(await warm(nodes, 'k'), ['v1', 'v1', 'v1']);
      await warm(nodes, 't');
      await warm(nodes, 'x');
      const cases: [string, () => Promise<void>, string][] = [
        ['set', () => a.cache.set('k', 'v2'), 'k'],
        ['invalidateByTag', () => a.cache.invalidateByTag('users'), 't'],
        ['invalidateAll', () => a.cache.invalidateAll(), 'x'],
      ];
      for (const [what, act, key] of cases) {
        const before = [b, c].map(received);
        const old = await b.cache.get(key);
        await act();
        // Arrival, not time: once the message is in, the old value is gone (maxStale is 60 s).
        await waitFor(() => [b, c].every((x, i) => received(x) > before[i]!), `${what}: the message reached b and c`);
        for (const x of [b, c]) assert.notEqual(await x.cache.get(key), old, `${what}: old value gone`);
      }
      for (const x of [b, c]) {
        const s = x.cache.stats();
        assert.equal(s.bus?.dropped, 0);
        assert.equal(s.bus?.gaps, 0);
        assert.ok((s.bus?.lag.histogram.count ?? 0) >= 3, 'lag measured per message');
        assert.ok((s.bus?.lag.maxMs ?? Infinity) < 5000);
      }
      assert.equal(a.cache.stats().bus?.sent, 6, 'four sets, one tag, one clear');
    } finally {
      await closeAll(nodes);
    }
  });

  test('with every bus message lost, no instance serves an old value longer than maxStale; tags and clears go within the generation check', async () => {
    const maxStale = 500;
    const nodes = await cluster(3, { maxStale, generationCheckInterval: 50 });
    const [a, b, c] = nodes as [Node, Node, Node];
    try {
      for (const x of nodes) x.faults.on = true;
      await a.cache.set('k', 'old');
      await a.cache.set('t', 'old', { tags: ['users'] });
      await a.cache.set('x', 'old');
      for (const key of ['k', 't', 'x']) assert.deepEqual(await warm(nodes, key), ['old', 'old', 'old']);
      // Serving from L1 makes each instance read the clear's and the tag's generations once.
      for (const x of [b, c]) {
        await waitFor(async () => {
          for (const key of ['t', 'x']) await x.cache.get(key);
          return (x.cache.stats().coherence?.generations.learned ?? 0) >= 2;
        }, 'the generations read once');
      }

      // A key replaced elsewhere: only maxStale bounds it (no generation for keys).
      await a.cache.set('k', 'new');
      let done = Date.now();
      for (const x of [b, c]) {
        const late = await lastOld(x, 'k', 'old', done, maxStale + 5000);
        assert.ok(late < maxStale + 2, `set: old value served ${late} ms after the write (maxStale ${maxStale})`);
        assert.equal(await x.cache.get('k'), 'new');
      }

      // A tag and a clear: the generation check sees them (50 ms here), well within maxStale.
      for (const [what, act, key] of [
        ['invalidateByTag', () => a.cache.invalidateByTag('users'), 't'],
        ['invalidateAll', () => a.cache.invalidateAll(), 'x'],
      ] as const) {
        const changes = [b, c].map((x) => x.cache.stats().coherence?.generations.changes ?? 0);
        await act();
        done = Date.now();
        for (const [i, x] of [b, c].entries()) {
          const late = await lastOld(x, key, 'old', done, maxStale + 5000);
          assert.ok(late < maxStale + 2, `${what}: old value served ${late} ms after it (maxStale ${maxStale})`);
          assert.equal(await x.cache.get(key), undefined, what);
          assert.ok((x.cache.stats().coherence?.generations.changes ?? 0) > changes[i]!, `${what}: seen through its generation`);
        }
      }
      for (const x of [b, c]) {
        const s = x.cache.stats();
        assert.equal(s.bus?.received, 0, 'nothing arrived');
        assert.ok((s.coherence?.revalidations ?? 0) > 0, 'copies older than maxStale were read again');
      }
    } finally {
      await closeAll(nodes);
    }
  });

  test("a gap in a sender's sequence makes the receiver read its L1 copies again", async () => {
    const nodes = await cluster(2, { maxStale: 60_000, generationCheckInterval: 60_000 });
    const [a, b] = nodes as [Node, Node];
    try {
      await a.cache.set('k', 'old');
      await a.cache.set('warm-up', 1); // b hears a, so a's next message is not its first
      await waitFor(() => received(b) >= 2, 'b heard of a');
      await generationsKnown(b);
      assert.equal(await b.cache.get('k'), 'old');
      const before = revalidations(b);
      b.faults.next = 1;
      await a.cache.set('k', 'new'); // lost on its way to b
      await waitFor(() => b.faults.drops === 1, 'the message lost');
      assert.equal(await b.cache.get('k'), 'old', 'b missed it and nothing else tells it (maxStale 60 s)');
      const heard = received(b);
      await a.cache.set('other', 1); // the next message shows the gap
      await waitFor(() => received(b) > heard, 'the next message reached b');
      assert.equal(await b.cache.get('k'), 'new');
      const s = b.cache.stats();
      assert.equal(s.bus?.dropped, 1);
      assert.equal(s.bus?.gaps, 1);
      assert.equal(revalidations(b), before + 1, 'the copy of k was read again');
    } finally {
      await closeAll(nodes);
    }
  });

  test('sequence numbers from outside: a stranger first heard above 1 revalidates without counting a loss; a repeat is harmless', async () => {
    const nodes = await cluster(1, { maxStale: 60_000, generationCheckInterval: 60_000 });
    const [b] = nodes as [Node];
    const raw = new Redis(redis.url);
    try {
      await generationsKnown(b);
      const channel = `s${n}:bus`;
      const send = async (s: number): Promise<void> => {
        const heard = received(b);
        await raw.publish(channel, JSON.stringify({ op: 'del', keys: ['elsewhere'], i: 'stranger', s, t: Date.now() }));
        await waitFor(() => received(b) > heard, `message ${s} arrived`);
      };
      const probe = async (): Promise<number> => {
        const before = revalidations(b);
        await b.cache.get('probe');
        return revalidations(b) - before;
      };
      await send(5); // first heard at 5: what came before may have been lost, or predates us
      assert.equal(await probe(), 1, 'read again');
      assert.deepEqual([b.cache.stats().bus?.dropped, b.cache.stats().bus?.gaps], [0, 0], 'not counted as lost');
      await send(6);
      assert.equal(await probe(), 0, 'in sequence: nothing to do');
      await send(6);
      await send(4);
      assert.equal(await probe(), 0, 'a repeat or an older number: nothing to do');
      await send(9);
      assert.equal(await probe(), 1, 'a gap: read again');
      assert.deepEqual([b.cache.stats().bus?.dropped, b.cache.stats().bus?.gaps], [2, 1]);
    } finally {
      raw.disconnect();
      await closeAll(nodes);
    }
  });

  test('after the subscriber connection is killed (CLIENT KILL), L1 copies are read again', async () => {
    const nodes = await cluster(2, { maxStale: 60_000, generationCheckInterval: 60_000 });
    const [a, b] = nodes as [Node, Node];
    const admin = new Redis(redis.url);
    try {
      await a.cache.set('k', 'old');
      await waitFor(() => received(b) >= 1, 'b heard of a');
      await generationsKnown(b);
      assert.equal(await b.cache.get('k'), 'old');
      const before = revalidations(b);
      b.faults.on = true;
      await a.cache.set('k', 'new'); // lost for b, and no later message to show the gap
      await waitFor(() => b.faults.drops === 1, 'the message lost');
      assert.equal(await b.cache.get('k'), 'old', 'b missed it');
      b.faults.on = false;
      await admin.client('KILL', 'TYPE', 'pubsub');
      await waitFor(() => (b.cache.stats().bus?.reconnects ?? 0) >= 1 && b.cache.stats().bus?.connected, 'b resubscribed');
      assert.equal(await b.cache.get('k'), 'new');
      assert.equal(revalidations(b), before + 1, 'the copy of k was read again');
    } finally {
      admin.disconnect();
      await closeAll(nodes);
    }
  });

  test('with Redis stopped, reads (even of copies past maxStale) are served from L1 at once and nothing fails', async () => {
    const maxStale = 100;
    const nodes = await cluster(2, {
      maxStale,
      generationCheckInterval: 20,
      redis: { url: redis.url, keyPrefix: `down${++n}:`, commandTimeout: 300 },
    });
    const [a] = nodes as [Node, Node];
    try {
      await a.cache.set('plain', 'p');
      await a.cache.set('tagged', 't', { tags: ['users'] });
      await a.cache.set('bin', Buffer.from('bytes'));
      for (const key of ['plain', 'tagged', 'bin']) await warm(nodes, key);
      await redis.stop();
      await waitFor(() => nodes.every((x) => !x.cache.stats().l2?.connected), 'both noticed Redis is gone');
      const stoppedAt = Date.now();
      await waitFor(() => Date.now() > stoppedAt + maxStale, 'the copies to be older than maxStale');
      for (const x of nodes) {
        for (let round = 0; round < 3; round++) {
          const started = performance.now();
          assert.equal(await x.cache.get('plain'), 'p');
          assert.equal(await x.cache.get('tagged'), 't');
          assert.equal(await x.cache.has('plain'), true);
          assert.equal(await x.cache.getOrSet('plain', () => 'loader must not run'), 'p');
          const s = await x.cache.getStream('bin');
          assert.ok(s);
          const parts: Buffer[] = [];
          for await (const chunk of s.stream) parts.push(chunk as Buffer);
          assert.equal(Buffer.concat(parts).toString(), 'bytes');
          await x.cache.invalidateByTag('nothing-here');
          await x.cache.set('during', 'd');
          assert.equal(await x.cache.get('during'), 'd');
          assert.ok(performance.now() - started < 300, 'no call waited for the command timeout');
        }
        const st = x.cache.stats();
        assert.ok((st.coherence?.servedOnL2Failure ?? 0) > 0, 'served from L1 because Redis failed');
      }
    } finally {
      await redis.start();
      await closeAll(nodes);
    }
  });

  test('stats, /admin/cache-stats and metrics show the bus and the generations; close() leaves no handle', async () => {
    await assertNoLeakedHandles(async () => {
      const nodes = await cluster(2, { generationCheckInterval: 10 });
      const [a, b] = nodes as [Node, Node];
      const app = Fastify();
      try {
        await a.cache.set('k', 'v', { tags: ['t'] });
        assert.equal(await b.cache.get('k'), 'v');
        await waitFor(() => received(b) >= 1, 'b heard of a');
        b.faults.next = 1;
        await a.cache.set('lost', 1);
        await a.cache.invalidateByTag('t');
        await waitFor(() => (b.cache.stats().bus?.gaps ?? 0) === 1, 'b saw the gap');
        await a.cache.set('m', 1);
        await waitFor(async () => {
          await b.cache.get('m'); // from L2, then from L1: serving it asks for its generation
          return (b.cache.stats().coherence?.generations.checks ?? 0) > 0;
        }, 'a generation check');
        await app.register(cacheAdminRoutes, { cache: b.cache });
        const base = await app.listen({ port: 0, host: '127.0.0.1' });
        const body = (await (await fetch(`${base}/cache-stats`)).json()) as {
          bus: { sent: number; received: number; dropped: number; gaps: number; lag: { maxMs: number } };
          coherence: { maxStale: number; generationCheckInterval: number };
        };
        assert.equal(body.bus.dropped, 1);
        assert.equal(body.bus.gaps, 1);
        assert.ok(body.bus.received >= 2);
        assert.equal(typeof body.bus.lag.maxMs, 'number');
        assert.equal(body.coherence.maxStale, 10_000);
        assert.equal(body.coherence.generationCheckInterval, 10);
        const registry = new Registry();
        registerCacheMetrics(registry, b.cache);
        const text = await registry.metrics();
        assert.match(text, /headroom_cache_bus_messages_total\{direction="dropped"\} 1/);
        assert.match(text, /headroom_cache_bus_resyncs_total\{reason="gap"\} 1/);
        assert.match(text, /headroom_cache_bus_lag_seconds_count [1-9]/);
        assert.match(text, /headroom_cache_generation_checks_total\{result="ok"\} [1-9]/);
        assert.match(text, /headroom_cache_l1_revalidations_total\{result="read_again"\} \d+/);
      } finally {
        await app.close();
        await closeAll(nodes);
      }
    });
  });
});
