// The Redis a scale-out run shares between its gateways: one local server, a Redis Cluster
// (3 masters, 3 replicas) or a Sentinel trio watching a master and a replica, all started by
// test/helpers/redis.ts on 127.0.0.1. Each entry gives the environment every gateway gets to reach
// it and, where there is a replica to promote, a failover of the master the gateways talk to.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, startRedisCluster, startRedisSentinel } from '../../test/helpers/redis.js';

const run = promisify(execFile);

export interface Topology {
  name: string;
  /** Variables each gateway gets to reach this Redis. */
  env: Record<string, string>;
  /**
   * Promotes a replica of `master` (host:port, as /admin/cache-stats names it) and resolves once
   * the topology names the new master; absent where there is nothing to fail over to.
   */
  failover?: (master: string) => Promise<void>;
  stop(): Promise<void>;
}

/** redis-cli without blocking the event loop (the bench drives the load from the same process). */
async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 });
  return stdout;
}

/** Polls `done` every 50 ms until it holds, or throws naming `what` after `ms`. */
async function until(done: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await done().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`failover: ${what} did not happen within ${ms} ms`);
    await sleep(50);
  }
}

const portOf = (node: string): number => {
  const port = Number(/:(\d+)$/.exec(node)?.[1]);
  if (!(port > 0)) throw new Error(`failover: ${node} is not host:port`);
  return port;
};

export const topologies: Record<string, () => Promise<Topology>> = {
  /** One local redis-server: no failover. */
  single: async () => {
    const redis = await startRedis();
    return { name: 'single', env: { REDIS_URL: redis.url }, stop: () => redis.stop() };
  },

  /** 3 masters and 3 replicas; a failover is CLUSTER FAILOVER on the master's replica (graceful). */
  cluster: async () => {
    const cluster = await startRedisCluster();
    return {
      name: 'cluster (3 masters, 3 replicas)',
      env: { REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 3).join(',') },
      failover: async (master) => {
        const port = portOf(master);
        const id = (await cli(port, 'cluster', 'myid')).trim();
        const replica = Number(
          (await cli(port, 'cluster', 'replicas', id))
            .split('\n')
            .map((l) => /:(\d+)@/.exec(l)?.[1])
            .find(Boolean),
        );
        if (!(replica > 0)) throw new Error(`failover: ${master} has no replica`);
        if (!/OK/.test(await cli(replica, 'cluster', 'failover'))) throw new Error(`failover: CLUSTER FAILOVER refused on ${replica}`);
        await until(async () => (await cli(replica, 'role')).startsWith('master'), `the replica on ${replica} becoming master`, 15_000);
        await cluster.waitHealthy(15_000);
      },
      stop: () => cluster.stop(),
    };
  },

  /** A master, a replica and three sentinels; a failover is SENTINEL FAILOVER. */
  sentinel: async () => {
    const sentinel = await startRedisSentinel();
    const sentinelPort = sentinel.sentinelProcesses[0]!.port;
    return {
      name: 'sentinel (master, replica, 3 sentinels)',
      env: { REDIS_SENTINELS: sentinel.sentinels.join(','), REDIS_SENTINEL_NAME: sentinel.name },
      failover: async (master) => {
        if (!/OK/.test(await cli(sentinelPort, 'sentinel', 'failover', sentinel.name)))
          throw new Error('failover: SENTINEL FAILOVER refused');
        const named = async (): Promise<string> =>
          `127.0.0.1:${(await cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', sentinel.name)).trim().split('\n')[1]}`;
        await until(
          async () => {
            const now = await named();
            return /:\d+$/.test(now) && now !== master;
          },
          'the sentinels naming a new master',
          30_000,
        );
        // The old master rejoins as a replica before the next failover can promote it back.
        await until(
          async () => (await cli(portOf(master), 'info', 'replication')).includes('master_link_status:up'),
          `${master} rejoining as a replica`,
          30_000,
        );
      },
      stop: () => sentinel.stop(),
    };
  },
};
