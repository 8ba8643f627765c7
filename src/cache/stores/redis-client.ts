// The ioredis client of each Redis topology (one server, Cluster, Sentinel), all set up to fail
// fast: no offline queue (a call while disconnected fails at once), a timeout on every command and
// on every connection attempt, one retry at most. RedisStore adds a deadline on each whole call and
// a cap on calls in flight (ioredis has none: redis/ioredis#76), see redis-gate.ts.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisTopology, type RedisTopology, type RedisValues } from '../options.js';

export type RedisClient = Redis | Cluster;

/**
 * ioredis arms a timer of this length on disconnect() that only a later socket 'close' clears; when
 * the socket is already gone (Redis down) it runs out instead. close() waits it out so that no
 * handle outlives close().
 */
export const DISCONNECT_TIMEOUT = 250;
/** Longest wait for a TCP (and TLS) connection to one server or sentinel. */
export const CONNECT_TIMEOUT = 2000;

const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(i + 1)) };
}

/** Options every connection to a data node takes. */
function nodeOptions(v: RedisValues): RedisOptions {
  return {
    commandTimeout: v.commandTimeout,
    connectTimeout: Math.min(CONNECT_TIMEOUT, Math.max(v.commandTimeout, 100)),
    disconnectTimeout: DISCONNECT_TIMEOUT,
    maxRetriesPerRequest: 1,
    ...(v.password !== undefined && { password: v.password }),
    ...(v.tls && { tls: {} }),
  };
}

export interface CreatedClient {
  topology: RedisTopology;
  client: RedisClient;
  /** A connection for the invalidation bus: SUBSCRIBE waits for the first connection (offline queue). */
  subscriber(): RedisClient;
}

export function createRedisClient(v: RedisValues): CreatedClient {
  const topology = redisTopology(v);
  const node = nodeOptions(v);
  if (topology === 'cluster') {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      enableReadyCheck: true,
      // A failover moves slots: follow a few redirections, retrying soon, within the call's deadline.
      maxRedirections: 6,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: Math.min(v.commandTimeout, CONNECT_TIMEOUT),
      clusterRetryStrategy: retryStrategy,
      redisOptions: node,
    };
    const nodes = v.clusterNodes.map(hostPort);
    const client = new Cluster(nodes, options);
    return {
      topology,
      client,
      subscriber: () => new Cluster(nodes, { ...options, enableOfflineQueue: true, redisOptions: { ...node, maxRetriesPerRequest: null } }),
    };
  }
  if (topology === 'sentinel') {
    const options: RedisOptions = {
      ...node,
      sentinels: v.sentinels.map(hostPort),
      name: v.sentinelName,
      enableOfflineQueue: false,
      retryStrategy,
      sentinelRetryStrategy: retryStrategy,
      sentinelCommandTimeout: Math.min(v.commandTimeout, CONNECT_TIMEOUT),
      ...(v.tls && { enableTLSForSentinelMode: true, sentinelTLS: {} }),
      // A master that hangs instead of closing its connections (redis/ioredis#556): the sentinels'
      // +switch-master makes the client reconnect to the new master without waiting for the old one.
      failoverDetector: true,
    };
    const client = new Redis(options);
    return {
      topology,
      client,
      subscriber: () => new Redis({ ...options, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true }),
    };
  }
  const client = new Redis(v.url!, { ...node, enableOfflineQueue: false, retryStrategy });
  return {
    topology,
    client,
    subscriber: () => client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true }),
  };
}

/** The server(s) a client talks to now, as host:port: the server, the current master, or the cluster's masters. */
export function clientNodes(c: RedisClient): string[] {
  if (c instanceof Cluster) return c.nodes('master').map((n) => `${n.options.host}:${n.options.port}`);
  const s = c.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  if (c.options.sentinels) return s?.remoteAddress && c.status === 'ready' ? [`${s.remoteAddress}:${s.remotePort}`] : [];
  return [`${c.options.host}:${c.options.port}`];
}

/** Graceful QUIT when connected; otherwise disconnect and wait out ioredis's disconnect timer. */
export async function quitOrDisconnect(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => undefined);
    client.disconnect();
    return;
  }
  client.disconnect();
  await new Promise((r) => setTimeout(r, DISCONNECT_TIMEOUT + 20));
}
