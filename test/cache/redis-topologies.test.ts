// The L2 contract against a real Redis Cluster (3 masters, 3 replicas) and a real Sentinel trio
// (a master and a replica), each started once for this file; plus what a topology adds: one slot
// per cache on a cluster, and stats that name the topology and the server in use.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { RedisStore } from '../../src/cache/stores/redis.js';
import { hashSlot } from '../../src/cache/stores/redis-slot.js';
import {
  redisOrSkip,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterHandle,
  type RedisSentinelHandle,
} from '../helpers/redis.js';
import { entry, storeContract } from './store-contract.js';

const enabled = redisOrSkip('cache redis topologies (cluster, sentinel)', true);

async function ready(s: RedisStore): Promise<RedisStore> {
  if (s.client.status === 'ready') return s;
  await new Promise<void>((resolve, reject) => {
    s.client.once('ready', () => resolve());
    s.client.once('error', reject);
  });
  return s;
}

let n = 0;

describe('redis cluster store', { skip: !enabled }, () => {
  let cluster: RedisClusterHandle;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(() => cluster?.stop());

  // Two seed nodes are enough: the client learns the other four.
  const store = (o: { keyPrefix?: string } = {}): Promise<RedisStore> =>
    ready(new RedisStore({ clusterNodes: cluster.nodes.slice(0, 2), keyPrefix: `c${++n}:`, chunkSize: 256 * 1024, ...o }));

  describe('contract', () => storeContract('redis cluster', () => store()));

  test('cluster nodes that are not a cluster: calls fail saying what the server answered', async () => {
    const single = await startRedis();
    const s = new RedisStore({ clusterNodes: [single.url.replace('redis://', '')], keyPrefix: 'x:', commandTimeout: 500 });
    try {
      await assert.rejects(s.get('k'), {
        code: 'HEADROOM_CACHE_STORE_UNAVAILABLE',
        message:
          /not connected within 500 ms of start \(status \w+; last error: Failed to refresh slots cache\. \(.*cluster support disabled/,
      });
    } finally {
      await s.close();
      await single.stop();
    }
  });

  test('every key of a cache (values, chunks, tags, pending sets, epoch) is in one slot; stats name the master that has it', async () => {
    const s = await store();
    const raw = new Cluster(cluster.nodes.slice(0, 1));
    try {
      await s.set('small', entry(Buffer.from('v'), { tags: ['a', 'b'] }));
      await s.set('big', entry(Buffer.alloc(600 * 1024, 7), { tags: ['c'] }));
      await s.invalidateByTag('a');
      const prefix = `{c${n}:}`;
      const masters = raw.nodes('master');
      const keys = (await Promise.all(masters.map((m) => m.keys(`${prefix}*`)))).flat();
      // Value, chunk hash and tag sets of 'big', tag set b (small went with tag a); epoch comes with clear().
      assert.ok(keys.length >= 4, `keys: ${keys.join(', ')}`);
      await s.clear();
      keys.push(...(await Promise.all(masters.map((m) => m.keys(`${prefix}*`)))).flat());
      const slots = new Set(await Promise.all(keys.map((k) => raw.cluster('KEYSLOT', k))));
      assert.equal(slots.size, 1, 'one slot');
      assert.equal(masters.length, 3);
      const st = s.stats().redis;
      assert.equal(st?.topology, 'cluster');
      const [slot] = [...slots];
      const owner = raw.slots[Number(slot)]?.[0];
      assert.deepEqual(st?.nodes, [owner]);
      assert.equal(st?.maxPending, 1000);
      // The slot computed here (for stats) is the one Redis computes, hash tags and all.
      for (const k of ['plain', '{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', '{é:}v:ü', prefix]) {
        assert.equal(hashSlot(k), Number(await raw.cluster('KEYSLOT', k)), k);
      }
    } finally {
      raw.disconnect();
      await s.close();
    }
  });
});

describe('redis sentinel store', { skip: !enabled }, () => {
  let sentinel: RedisSentinelHandle;
  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(() => sentinel?.stop());

  const store = (): Promise<RedisStore> =>
    ready(new RedisStore({ sentinels: sentinel.sentinels, sentinelName: sentinel.name, keyPrefix: `s${++n}:`, chunkSize: 256 * 1024 }));

  describe('contract', () => storeContract('redis sentinel', () => store()));

  test('a master name the sentinels do not know: calls fail saying so', async () => {
    const s = new RedisStore({ sentinels: sentinel.sentinels, sentinelName: 'not-the-name', keyPrefix: 'x:', commandTimeout: 500 });
    try {
      await assert.rejects(s.get('k'), {
        code: 'HEADROOM_CACHE_STORE_UNAVAILABLE',
        message: /not connected within 500 ms of start \(status \w+; last error: .*No such master with that name/,
      });
    } finally {
      await s.close();
    }
  });

  test('stats name Sentinel and the master the sentinels point at', async () => {
    const s = await store();
    try {
      await s.set('k', entry(Buffer.from('v')));
      const st = s.stats().redis;
      assert.equal(st?.topology, 'sentinel');
      assert.deepEqual(st?.nodes, [`127.0.0.1:${sentinel.masterPort()}`]);
      const raw = new Redis(sentinel.masterPort(), '127.0.0.1');
      try {
        assert.equal(await raw.exists(`s${n}:v:k`), 1, 'written to the master');
      } finally {
        raw.disconnect();
      }
    } finally {
      await s.close();
    }
  });
});
