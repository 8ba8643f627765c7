// The invalidation bus over a real redis-server: its subscriber connection after drops.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Bus, MAX_KEYS, type BusMessage } from '../../src/cache/bus.js';
import { resolveStoreOptions } from '../../src/cache/options.js';
import { createRedisClient } from '../../src/cache/stores/redis-client.js';
import { redisOrSkip, startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

describe('cache bus subscriber', { skip: !redisOrSkip('cache bus subscriber') }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('a connection dropped again while it resubscribes is no unhandled rejection; the next reconnect subscribes again', async () => {
    const rejections: unknown[] = [];
    const onRejection = (err: unknown): void => void rejections.push(err);
    process.on('unhandledRejection', onRejection);
    // The subscriber the cache uses, made the cache's way (its options are what is tested).
    const created = createRedisClient(resolveStoreOptions('redis', { url: redis.url }));
    const sub = created.subscriber() as Redis; // one server: a plain connection
    const received: BusMessage[] = [];
    const errors: Error[] = [];
    const channel = 'bus-test';
    const bus = new Bus({
      publisher: created.client,
      subscriber: sub,
      channel,
      onMessage: (m) => received.push(m),
      onResync: () => undefined,
      onError: (err) => errors.push(err),
    });
    const admin = new Redis(redis.url);
    try {
      await waitFor(async () => (await admin.pubsub('NUMSUB', channel))[1] === 1, 'subscribed');
      // The first reconnect: the connection is cut again as soon as it is ready, with its
      // SUBSCRIBE (sent on 'ready') still unanswered.
      sub.once('ready', () => sub.stream.destroy());
      await admin.client('KILL', 'TYPE', 'pubsub');
      await waitFor(() => bus.stats().reconnects >= 2 && bus.connected, 'the second reconnect');
      await waitFor(async () => (await admin.pubsub('NUMSUB', channel))[1] === 1, 'subscribed again');
      await admin.publish(channel, JSON.stringify({ op: 'del', keys: ['k'] }));
      await waitFor(() => received.length === 1, 'a message after the reconnects');
      // A turn for a rejection to be reported.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
      admin.disconnect();
      await bus.close();
      created.client.disconnect();
    }
  });

  test('a del of more keys than a peer takes in one message (MAX_KEYS) reaches it whole, in slices', async () => {
    const channel = 'bus-slices';
    const made = [0, 1].map(() => createRedisClient(resolveStoreOptions('redis', { url: redis.url })));
    const received: BusMessage[] = [];
    const [a, b] = made.map(
      (c, i) =>
        new Bus({
          publisher: c.client,
          subscriber: c.subscriber() as Redis,
          channel,
          onMessage: (m) => void (i === 1 && received.push(m)),
          onResync: () => undefined,
          onError: () => undefined,
        }),
    );
    const admin = new Redis(redis.url);
    try {
      await waitFor(async () => (await admin.pubsub('NUMSUB', channel))[1] === 2, 'both subscribed');
      const keys = Array.from({ length: 2 * MAX_KEYS + 500 }, (_, i) => `k${i}`);
      a!.publish({ op: 'del', keys });
      await waitFor(() => received.length === 3, 'three messages');
      assert.deepEqual(
        received.flatMap((m) => (m.op === 'del' ? m.keys : [])),
        keys,
      );
      assert.deepEqual([b!.stats().malformed, b!.stats().gaps], [0, 0]);
    } finally {
      admin.disconnect();
      for (const bus of [a, b]) await bus!.close();
      for (const c of made) c.client.disconnect();
    }
  });
});
