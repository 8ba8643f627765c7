// Failures that stay small, end to end: two real gateways share a real Redis Cluster (3 masters,
// 3 replicas) or a Sentinel trio, under steady load with L1 off (every request asks Redis), while
// the master holding the cache fails over (CLUSTER FAILOVER on its replica / SENTINEL FAILOVER), and
// then every Redis process is killed. No request fails, none waits on Redis longer than the
// command timeout, the cache commands the client holds (wherever: written and unanswered, offline
// queues, the cluster's retry timers) never exceed the cap and none is sent again after its call
// ended, and /admin/cache-stats names the topology, the node and the bus counts. A store on a
// cluster whose master hangs and then dies shows the same directly.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { redisOrSkip, startRedisCluster, startRedisSentinel, type RedisClusterHandle } from '../helpers/redis.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { RedisStore } from '../../src/cache/stores/redis.js';
import { ValueType } from '../../src/cache/codec.js';
import { heldNow, watchHeld } from './redis-held.js';
import { waitFor } from '../helpers/wait.js';

const enabled = redisOrSkip('cache redis failover (cluster, sentinel)', true);
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const COMMAND_TIMEOUT = 300;
const MAX_PENDING = 8;
const CLIENTS = 12;
// A cache call answers within COMMAND_TIMEOUT; its deadline timer fires late by as much as the
// event loop was blocked (measured in each phase: two gateways, the load and Redis share two CPUs).
const TIMER_SLACK = 25;
// A whole request also waits for the loopback upstream, two gateways and the load driver, all on
// this process's event loop and the same two CPUs: it is bounded loosely (plus the longest the loop
// was blocked, as the cache calls), the cache calls tightly.
const REQUEST_BOUND = COMMAND_TIMEOUT + 1500;

/** The slowest cache.get() (the call a proxied request waits on) of each gateway, measured around the real call. */
const slowestGet = new WeakMap<TestGateway['gw'], { max: number }>();
function timeCacheGets(gw: TestGateway['gw']): void {
  const cache = gw.cache;
  const slowest = { max: 0 };
  slowestGet.set(gw, slowest);
  const get = cache.get.bind(cache);
  cache.get = async (key: string) => {
    const started = performance.now();
    try {
      return await get(key);
    } finally {
      slowest.max = Math.max(slowest.max, performance.now() - started);
    }
  };
}

async function upstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' });
    res.end(JSON.stringify({ url: req.url, pad: 'x'.repeat(512) }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}` };
}

interface Load {
  statuses: Map<number, number>;
  slowest: number;
  count: number;
  /** Most cache commands one store's client held at once (measured at each command it took: redis-held.ts). */
  heldPeak: number;
  /** Commands sent again after their call had ended (counted by redis-held.ts). */
  lateSends: number;
  stop(): Promise<void>;
}

/** The store's ioredis client, for measuring what it holds (test-only reach into the cache). */
function storeClient(t: TestGateway): Redis | Cluster {
  const c = (t.gw.cache as unknown as { l2?: { client?: Redis | Cluster } }).l2?.client;
  assert.ok(c, 'the gateway has its Redis store');
  return c;
}

function startLoad(gateways: TestGateway[]): Load {
  let running = true;
  const load: Load = { statuses: new Map(), slowest: 0, count: 0, heldPeak: 0, lateSends: 0, stop: async () => undefined };
  const watches = gateways.map((t) => watchHeld(storeClient(t)));
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; running; i++) {
      const t = gateways[(c + i) % gateways.length]!;
      const started = performance.now();
      const res = await request(`${t.url}/api/item/${(c * 7 + i) % 40}`);
      load.slowest = Math.max(load.slowest, performance.now() - started);
      load.count++;
      load.statuses.set(res.status, (load.statuses.get(res.status) ?? 0) + 1);
    }
  });
  load.stop = async () => {
    running = false;
    await Promise.all(clients);
    for (const w of watches) w.stop();
    load.heldPeak = Math.max(...watches.map((w) => w.peak));
    load.lateSends = watches.reduce((n, w) => n + w.lateSends, 0);
  };
  return load;
}

async function cacheStats(t: TestGateway) {
  const res = await request(`${t.url}/admin/cache-stats`, { headers: auth });
  assert.equal(res.status, 200);
  return res.json();
}

function checkLoad(load: Load, phase: string, gateways: TestGateway[], loopDelay: number): void {
  assert.deepEqual([...load.statuses.keys()], [200], `${phase}: every request answered 200 (${JSON.stringify([...load.statuses])})`);
  assert.ok(load.count > 10, `${phase}: ${load.count} requests`);
  const requestBound = REQUEST_BOUND + loopDelay;
  assert.ok(load.slowest <= requestBound, `${phase}: slowest request ${load.slowest.toFixed(0)} ms (bound ${requestBound.toFixed(0)} ms)`);
  for (const t of gateways) {
    const s = slowestGet.get(t.gw)!;
    const bound = COMMAND_TIMEOUT + loopDelay + TIMER_SLACK;
    assert.ok(s.max <= bound, `${phase}: a cache.get() waited ${s.max.toFixed(0)} ms (bound ${bound.toFixed(0)} ms)`);
    s.max = 0;
  }
  assert.ok(load.heldPeak <= MAX_PENDING, `${phase}: ${load.heldPeak} cache commands held at once (cap ${MAX_PENDING})`);
  assert.equal(load.lateSends, 0, `${phase}: commands sent again after their call ended`);
}

/** Runs the load for `ms` (or until `until` settles and `ms` passed), then checks it. */
async function phase(gateways: TestGateway[], name: string, ms: number, during?: () => Promise<unknown>): Promise<Load> {
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const load = startLoad(gateways);
  try {
    await Promise.all([during?.(), new Promise((r) => setTimeout(r, ms))]);
  } finally {
    await load.stop();
    lag.disable();
  }
  checkLoad(load, name, gateways, lag.max / 1e6);
  return load;
}

const ask = (port: number, ...args: string[]): string =>
  spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 }).stdout;

/** host:port of the cluster master that holds the slot of a cache with this prefix ('' while unknown). */
function clusterMaster(cluster: RedisClusterHandle, prefix: string): string {
  const up = cluster.processes.find((p) => p.running);
  if (up === undefined) return '';
  const slot = Number(ask(up.port, 'cluster', 'keyslot', `{${prefix}}epoch`).trim());
  for (const line of ask(up.port, 'cluster', 'nodes').split('\n')) {
    const [, addr, flags, , , , , , ...ranges] = line.split(' ');
    if (!flags?.split(',').includes('master') || flags.includes('fail')) continue;
    const owns = ranges.some((r) => {
      const [lo, hi = lo] = r.split('-').map(Number);
      return slot >= lo! && slot <= hi!;
    });
    if (owns) return addr!.split('@')[0]!;
  }
  return '';
}

async function scenario(
  env: Record<string, string>,
  topology: 'cluster' | 'sentinel',
  failover: (node: string) => Promise<void>,
  /** host:port of the master the topology itself names now for the cache. */
  master: () => string,
  killAll: () => Promise<void>,
): Promise<void> {
  const up = await upstream();
  const gateways: TestGateway[] = [];
  try {
    await assertNoLeakedHandles(async () => {
      try {
        for (let i = 0; i < 2; i++) {
          gateways.push(
            await startGateway(
              {
                HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
                UPSTREAM_URL: up.url,
                CACHE_MAX_BYTES: '0', // L1 off: every request asks Redis
                CACHE_REDIS_COMMAND_TIMEOUT: `${COMMAND_TIMEOUT}ms`,
                CACHE_REDIS_MAX_PENDING: String(MAX_PENDING),
                // The checks below poll /admin/cache-stats every 50 ms, for seconds on a busy machine.
                ADMIN_RATE_LIMIT: '100000',
                CACHE_REDIS_KEY_PREFIX: `fo-${topology}:`,
                ...env,
              },
              (gw) => timeCacheGets(gw),
            ),
          );
        }
        const [a, b] = gateways as [TestGateway, TestGateway];
        await waitFor(async () => (await cacheStats(a)).l2.connected && (await cacheStats(b)).bus.connected, 'both gateways on Redis');

        // A cold start (first connection to the slot's master, scripts loaded, JIT) may time out a
        // few calls and open the breaker for breakDuration: steady state begins once it is closed.
        await phase(gateways, 'warm-up', 300);
        await waitFor(
          async () => !(await cacheStats(a)).l2.breakerOpen && !(await cacheStats(b)).l2.breakerOpen,
          'the breakers to close',
          5000,
          50,
        );
        const steady = await phase(gateways, 'steady', 800);
        const before = await cacheStats(a);
        assert.equal(before.l2.redis.topology, topology);
        assert.equal(before.l2.redis.nodes.length, 1, JSON.stringify(before.l2.redis));
        assert.match(before.l2.redis.nodes[0], /^127\.0\.0\.1:\d+$/);
        assert.ok(before.l2.hits > 0, `L2 serves (${before.l2.hits} hits in ${steady.count} requests): ${JSON.stringify(before.l2)}`);
        // The bus: b hears a's invalidation.
        const heard = (await cacheStats(b)).bus.received;
        assert.equal((await request(`${a.url}/admin/cache/invalidate?tag=proxy`, { method: 'POST', headers: auth })).status, 200);
        await waitFor(async () => (await cacheStats(b)).bus.received > heard, "b to receive a's invalidation over the bus");
        const bus = (await cacheStats(a)).bus;
        for (const k of ['sent', 'received', 'dropped']) assert.equal(typeof bus[k], 'number', `bus.${k}`);
        assert.ok(bus.sent > 0);

        const old = before.l2.redis.nodes[0] as string;
        await phase(gateways, 'failover', 600, () => failover(old));
        // Redis serves again, from the master the topology names now: the new one, or on a machine
        // so busy that the cluster's node timeout passed, the old one again after a second failover.
        let seen: unknown;
        await waitFor(
          async () => {
            const s = await cacheStats(a);
            seen = s.l2;
            return s.l2.connected && s.l2.redis.nodes.length === 1 && s.l2.redis.nodes[0] === master();
          },
          'the store to talk to the current master',
          15_000,
          50,
        ).catch((err: Error) =>
          Promise.reject(new Error(`${err.message} (old ${old}, now ${master()}; last seen ${JSON.stringify(seen)})`)),
        );
        // Calls the paused old master left unanswered opened the breakers (breakDuration, 2 s).
        await waitFor(
          async () => !(await cacheStats(a)).l2.breakerOpen && !(await cacheStats(b)).l2.breakerOpen,
          'the breakers to close',
          5000,
          50,
        );
        const hits = (await cacheStats(a)).l2.hits;
        // Under load on a busy machine 600 ms may bring no repeated key to a: the phase runs until one hits.
        await phase(gateways, 'after failover', 600, () =>
          waitFor(async () => (await cacheStats(a)).l2.hits > hits, 'an L2 hit on a after the failover', 10_000, 50),
        );

        await phase(gateways, 'redis killed', 1500, killAll);
        const dead = await cacheStats(a);
        assert.equal(dead.l2.connected, false);
        for (const t of gateways) {
          const r = (await cacheStats(t)).l2.redis;
          assert.ok(r.pendingPeak <= MAX_PENDING, `pendingPeak ${r.pendingPeak}`);
        }
      } finally {
        for (const t of gateways) await t.close();
      }
    });
  } finally {
    await new Promise<void>((r) => up.server.close(() => r()));
  }
}

describe('redis failover through the gateway', { skip: !enabled }, () => {
  test('cluster: a master failover, then every node killed: no failed request, none waits past the command timeout, queues within the cap', async () => {
    const cluster = await startRedisCluster();
    try {
      await scenario(
        { REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 3).join(',') },
        'cluster',
        async (node) => {
          // The replica of the master that holds the cache takes over (a manual, graceful failover).
          const port = Number(node.split(':')[1]);
          const id = ask(port, 'cluster', 'myid').trim();
          const replica = ask(port, 'cluster', 'replicas', id)
            .split('\n')
            .map((l) => /:(\d+)@/.exec(l)?.[1])
            .find(Boolean);
          assert.ok(replica, `a replica of ${node}`);
          assert.match(ask(Number(replica), 'cluster', 'failover'), /OK/);
          await waitFor(() => ask(Number(replica), 'role').startsWith('master'), 'the replica to become master', 10_000, 50);
        },
        () => clusterMaster(cluster, 'fo-cluster:'),
        () => cluster.stop(),
      );
    } finally {
      await cluster.stop();
    }
  });

  test('cluster: a hung master dies: the commands the client holds stay within the cap, none is sent after its call ended', async () => {
    const cluster = await startRedisCluster();
    try {
      await assertNoLeakedHandles(async () => {
        const store = new RedisStore({
          clusterNodes: cluster.nodes.slice(0, 3),
          keyPrefix: 'held:',
          commandTimeout: COMMAND_TIMEOUT,
          maxPending: MAX_PENDING,
        });
        let pid = 0;
        let stopped = false;
        try {
          const entry = {
            type: ValueType.Json,
            expiresAt: Date.now() + 60_000,
            staleUntil: Date.now() + 60_000,
            tags: [],
            payload: Buffer.from('{}'),
          };
          await waitFor(
            async () =>
              await store.set('k', entry).then(
                () => true,
                () => false,
              ),
            'the store to write to the cluster',
          );
          const owner = Number(store.stats().redis!.nodes[0]!.split(':')[1]);
          pid = Number(/process_id:(\d+)/.exec(ask(owner, 'info', 'server'))?.[1]);
          assert.ok(pid > 0, `the pid of the master on ${owner}`);
          const watch = watchHeld(store.client);
          try {
            // The master that holds the cache hangs: a full cap of calls is answered at its deadline,
            // while their commands stay written and unanswered on its connection.
            process.kill(pid, 'SIGSTOP');
            stopped = true;
            const hung = await Promise.allSettled(Array.from({ length: MAX_PENDING }, () => store.get('k')));
            for (const r of hung)
              assert.equal(r.status === 'rejected' && (r.reason as { code?: string }).code, 'HEADROOM_CACHE_STORE_UNAVAILABLE');
            // Then it dies: its connection closes with those commands on it, and calls go on at full cap.
            process.kill(pid, 'SIGKILL');
            stopped = false;
            const until = performance.now() + 1500;
            await Promise.all(
              Array.from({ length: MAX_PENDING }, async () => {
                for (let i = 0; i < 10_000 && performance.now() < until; i++) {
                  await store.get('k').catch(() => undefined);
                  await new Promise((r) => setImmediate(r));
                }
              }),
            );
          } finally {
            watch.stop();
          }
          assert.ok(watch.peak <= MAX_PENDING, `${watch.peak} cache commands held at once (cap ${MAX_PENDING})`);
          assert.equal(watch.lateSends, 0, 'commands sent again after their call ended');
          // Every command has really ended: nothing is held, no call is pending.
          await waitFor(() => heldNow(store.client) === 0 && store.stats().redis!.pending === 0, 'every command to end', 5000, 20);
        } finally {
          if (stopped) process.kill(pid, 'SIGKILL'); // a hung master is never left behind
          await store.close();
        }
      });
    } finally {
      await cluster.stop();
    }
  });

  test('sentinel: SENTINEL FAILOVER, then every process killed: no failed request, none waits past the command timeout, queues within the cap', async () => {
    const sentinel = await startRedisSentinel();
    try {
      await scenario(
        { REDIS_SENTINELS: sentinel.sentinels.join(','), REDIS_SENTINEL_NAME: sentinel.name },
        'sentinel',
        async (node) => {
          const port = sentinel.sentinelProcesses[0]!.port;
          assert.match(ask(port, 'sentinel', 'failover', sentinel.name), /OK/);
          await waitFor(() => `127.0.0.1:${sentinel.masterPort()}` !== node, 'the sentinels to name the new master', 15_000, 50);
        },
        () => `127.0.0.1:${sentinel.masterPort()}`,
        () => sentinel.stop(),
      );
    } finally {
      await sentinel.stop();
    }
  });
});
