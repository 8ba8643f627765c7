// Issue 18: three gateways on one shared Redis keep one picture for operators. For each topology
// (one server, a Cluster of 3 masters and 3 replicas, a Sentinel trio) every gateway's
// /admin/cache-stats names the topology and the node it talks to (the same one for all three: the
// server, the master Sentinel names, the cluster master holding the cache's slot) and the bus's
// sent / received / dropped / lag figures, which follow real invalidations and a message lost on purpose.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { redisOrSkip, startRedis, startRedisCluster, startRedisSentinel } from '../helpers/redis.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

const enabled = redisOrSkip('cache-stats across topologies', true);
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface Stats {
  l2: { connected: boolean; redis: { topology: string; nodes: string[]; pendingPeak: number; maxPending: number } };
  bus: {
    connected: boolean;
    sent: number;
    received: number;
    dropped: number;
    gaps: number;
    lag: { lastMs: number | null; maxMs: number | null };
  };
}

async function stats(t: TestGateway): Promise<Stats> {
  const res = await request(`${t.url}/admin/cache-stats`, { headers: auth });
  assert.equal(res.status, 200, res.text);
  return res.json() as Stats;
}

const invalidate = async (t: TestGateway): Promise<void> => {
  assert.equal((await request(`${t.url}/admin/cache/invalidate?tag=proxy`, { method: 'POST', headers: auth })).status, 200);
};

/**
 * Three gateways on `env`; the third loses its incoming bus messages while `lose.on`. `node()` is
 * the host:port each must name; checks the stats through invalidations, one of them lost.
 */
async function threeGateways(env: Record<string, string>, topology: string, node: () => string | string[]): Promise<void> {
  const lose = { on: false };
  const gateways: TestGateway[] = [];
  await assertNoLeakedHandles(async () => {
    try {
      for (let i = 0; i < 3; i++)
        gateways.push(
          await startGateway(
            { HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ADMIN_RATE_LIMIT: '100000', CACHE_REDIS_KEY_PREFIX: `stats-${topology}:`, ...env },
            undefined,
            {
              busFaults: { dropIncoming: () => i === 2 && lose.on },
            },
          ),
        );
      const [a, b, c] = gateways as [TestGateway, TestGateway, TestGateway];
      await waitFor(
        async () => (await Promise.all(gateways.map(stats))).every((s) => s.l2.connected && s.bus.connected),
        'three gateways on Redis, their buses subscribed',
        15_000,
        50,
      );

      // Each names the topology, and the same one node, the one the topology says serves the cache.
      const first = await Promise.all(gateways.map(stats));
      const expected = node();
      for (const [i, s] of first.entries()) {
        assert.equal(s.l2.redis.topology, topology, `gateway ${i}`);
        assert.equal(s.l2.redis.nodes.length, 1, `gateway ${i}: ${JSON.stringify(s.l2.redis)}`);
        assert.match(s.l2.redis.nodes[0]!, /^127\.0\.0\.1:\d+$/);
        assert.equal(s.l2.redis.nodes[0], first[0]!.l2.redis.nodes[0], `gateway ${i} talks to the same node as gateway 0`);
        assert.ok(s.l2.redis.pendingPeak <= s.l2.redis.maxPending);
      }
      if (Array.isArray(expected))
        assert.ok(expected.includes(first[0]!.l2.redis.nodes[0]!), `${first[0]!.l2.redis.nodes[0]} in ${expected.join(', ')}`);
      else assert.equal(first[0]!.l2.redis.nodes[0], expected);

      // An invalidation on a: a counts it sent, b and c receive it, with its lag.
      await invalidate(a);
      await waitFor(async () => (await stats(b)).bus.received >= 1 && (await stats(c)).bus.received >= 1, 'b and c to receive it');
      const sentA = (await stats(a)).bus.sent;
      assert.ok(sentA >= 1, `a sent ${sentA}`);
      for (const t of [b, c]) {
        const bus = (await stats(t)).bus;
        assert.equal(bus.dropped, 0);
        assert.equal(typeof bus.lag.maxMs, 'number');
        assert.ok(bus.lag.maxMs! >= 0 && bus.lag.maxMs! < 5000, `lag ${bus.lag.maxMs} ms`);
      }

      // c hears b once (a sender first heard is a stranger: no gap before it), then loses b's next
      // message; b's following one shows the gap: c counts one dropped, a and b none.
      const heardC = (await stats(c)).bus.received;
      await invalidate(b);
      await waitFor(async () => (await stats(c)).bus.received > heardC, "c to receive b's first message");
      const heardA = (await stats(a)).bus.received;
      lose.on = true;
      await invalidate(b);
      await waitFor(async () => (await stats(a)).bus.received > heardA, "a to receive b's second message (c loses it)");
      lose.on = false;
      await invalidate(b);
      await waitFor(async () => (await stats(c)).bus.dropped === 1, 'c to find the lost message');
      const [sa, sb, sc] = await Promise.all(gateways.map(stats));
      assert.equal(sa!.bus.dropped, 0);
      assert.equal(sb!.bus.dropped, 0);
      assert.equal(sc!.bus.gaps, 1);
      assert.ok(sb!.bus.sent >= 3, `b sent ${sb!.bus.sent}`);
    } finally {
      for (const t of gateways) await t.close();
    }
  });
}

describe('/admin/cache-stats through three gateways', { skip: !enabled }, () => {
  test('single: the topology, the server, the bus figures', async () => {
    const redis = await startRedis();
    try {
      await threeGateways({ REDIS_URL: redis.url }, 'single', () => `127.0.0.1:${redis.port}`);
    } finally {
      await redis.stop();
    }
  });

  test('cluster: the topology, the master holding the cache slot, the bus figures', async () => {
    const cluster = await startRedisCluster();
    try {
      await threeGateways({ REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 3).join(',') }, 'cluster', () =>
        cluster.masterPorts().map((p) => `127.0.0.1:${p}`),
      );
    } finally {
      await cluster.stop();
    }
  });

  test('sentinel: the topology, the master the sentinels name, the bus figures', async () => {
    const sentinel = await startRedisSentinel();
    try {
      await threeGateways(
        { REDIS_SENTINELS: sentinel.sentinels.join(','), REDIS_SENTINEL_NAME: sentinel.name },
        'sentinel',
        () => `127.0.0.1:${sentinel.masterPort()}`,
      );
    } finally {
      await sentinel.stop();
    }
  });
});
