// The ioredis client of each Redis topology (one server, Cluster, Sentinel), all set up to fail
// fast: no offline queue (a call while disconnected fails at once), a timeout on every connection
// attempt, no resend of what a dropped connection left unanswered. RedisStore adds a deadline on
// each whole call and a cap on calls in flight (ioredis has none: redis/ioredis#76), see
// redis-gate.ts. The bus's subscriber is the exception: it waits for its connection.
// Commands have no ioredis commandTimeout, on purpose: it rejects a command's promise but leaves the
// command where it is (written and unanswered, or in a cluster's retry timers), and a Cluster still
// acts on that command's later reply or connection close: MOVED sends it to another node, a closed
// connection puts it in the cluster's delay queue, and it is sent again long after its call ended,
// outside the cap (issue 18: a cap of 8 held 17 commands). Without it a command's promise settles
// only when ioredis lets go of the command, so the gate's count of calls in flight is exact.
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { AbstractConnector, Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
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

/** Clients being closed: their sentinel retry loop stops (see quitOrDisconnect). */
const closing = new WeakSet<RedisClient>();
/** Sentinel clients, and when each last failed to reach a sentinel. */
const sentinelClients = new WeakSet<RedisClient>();
const lastFailedProbe = new WeakMap<RedisClient, number>();
/**
 * ioredis's connection to a sentinel it could not reach keeps its default disconnect timer (2 s);
 * a closed Sentinel client waits out the ones still running.
 */
const SENTINEL_PROBE_LINGER = 2000 + 50;

// The bus subscribes again after each reconnect itself: ioredis's autoResubscribe sends SUBSCRIBE
// without handling its failure (an unhandled rejection when the connection drops again before the
// reply) and then forgets the channel, so the next reconnect would not subscribe at all.
const SUBSCRIBER: RedisOptions = {
  enableOfflineQueue: true,
  commandTimeout: undefined,
  maxRetriesPerRequest: null,
  autoResubscribe: false,
};

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(i + 1)) };
}

/** Options every connection to a data node takes (no commandTimeout: see the top). */
function nodeOptions(v: RedisValues): RedisOptions {
  return {
    connectTimeout: Math.min(CONNECT_TIMEOUT, Math.max(v.commandTimeout, 100)),
    disconnectTimeout: DISCONNECT_TIMEOUT,
    // A command in flight when its connection drops fails at once: never kept and resent after
    // the reconnect (it would be late, and outside the cap on calls in flight).
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    ...(v.password !== undefined && { password: v.password }),
    ...(v.tls && { tls: {} }),
  };
}

export interface CreatedClient {
  topology: RedisTopology;
  client: RedisClient;
  /**
   * A connection for the invalidation bus: SUBSCRIBE waits for the first connection (offline
   * queue, no command timeout), however late Redis comes up; the bus subscribes again after a drop.
   */
  subscriber(): RedisClient;
}

export function createRedisClient(v: RedisValues): CreatedClient {
  const topology = redisTopology(v);
  const node = nodeOptions(v);
  if (topology === 'cluster') {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      enableReadyCheck: true,
      // A failover moves slots: follow a few redirections, retrying soon (a node connection still
      // being made, too). The caller has its answer at the call's deadline; a command still in
      // these retries keeps its call's place under the cap until it ends (see the top).
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
    // The bus listens with classic SUBSCRIBE, which a cluster forwards to every node: one plain
    // connection to any node hears every PUBLISH. ioredis's own cluster subscriber is not used: when
    // every node is down it reselects a node at each failed connect, without delay, leaving a
    // 2-second timer behind each time, and it says nothing when it moved (messages may be lost
    // then). This connection rotates over the nodes the client knows, with the usual backoff, and
    // its 'ready' after a 'close' tells the bus to resync.
    const known = (): { host: string; port: number }[] => {
      const now = client.nodes('all').map((n) => ({ host: n.options.host ?? '', port: n.options.port ?? 0 }));
      return now.length > 0 ? now : nodes;
    };
    return {
      topology,
      client,
      subscriber: () =>
        new Redis({
          ...node,
          Connector: rotatingConnector(known, v.tls),
          ...SUBSCRIBER,
          retryStrategy,
        }),
    };
  }
  if (topology === 'sentinel') {
    const make = (extra: RedisOptions): Redis => {
      let self: Redis | undefined = undefined;
      // The sentinel loop retries forever; once the client is closed, it stops at its next turn.
      // Called after each round of probes, whose connections then linger (SENTINEL_PROBE_LINGER).
      const sentinelRetryStrategy = (times: number): number | null => {
        if (self === undefined) return 50;
        lastFailedProbe.set(self, Date.now()); // called when no sentinel answered
        return closing.has(self) ? null : Math.min(50 * 2 ** Math.min(times, 4), 500);
      };
      const c = new Redis({ ...options, ...extra, sentinelRetryStrategy });
      self = c;
      sentinelClients.add(c);
      c.on('sentinelError', () => lastFailedProbe.set(c, Date.now()));
      return c;
    };
    const options: RedisOptions = {
      ...node,
      sentinels: v.sentinels.map(hostPort),
      name: v.sentinelName,
      enableOfflineQueue: false,
      retryStrategy,
      sentinelCommandTimeout: Math.min(v.commandTimeout, CONNECT_TIMEOUT),
      ...(v.tls && { enableTLSForSentinelMode: true, sentinelTLS: {} }),
      // A master that hangs instead of closing its connections (redis/ioredis#556): the sentinels'
      // +switch-master makes the client reconnect to the new master without waiting for the old one.
      failoverDetector: true,
    };
    return {
      topology,
      client: make({}),
      subscriber: () => make(SUBSCRIBER),
    };
  }
  const client = new Redis(v.url!, { ...node, enableOfflineQueue: false, retryStrategy });
  return {
    topology,
    client,
    subscriber: () => client.duplicate(SUBSCRIBER),
  };
}

/** An ioredis connector that connects to the next address of `addresses()` at each attempt. */
function rotatingConnector(addresses: () => { host: string; port: number }[], tls: boolean): RedisOptions['Connector'] {
  let turn = 0;
  class RotatingConnector extends AbstractConnector {
    constructor(o: RedisOptions) {
      super(o.disconnectTimeout ?? DISCONNECT_TIMEOUT);
    }

    connect(): ReturnType<AbstractConnector['connect']> {
      this.connecting = true;
      const all = addresses();
      const to = all[turn++ % all.length]!;
      return new Promise((resolve, reject) => {
        // As ioredis's own connector: the stream is made on the next tick, unless closed meanwhile.
        process.nextTick(() => {
          if (!this.connecting) return reject(new Error('Connection is closed.'));
          const stream = tls ? tlsConnect({ host: to.host, port: to.port }) : createConnection(to);
          stream.once('error', (err) => (this.firstError = err));
          this.stream = stream;
          resolve(stream);
        });
      });
    }
  }
  return RotatingConnector as unknown as RedisOptions['Connector'];
}

/** The server(s) a client talks to now, as host:port: the server, the current master, or the cluster's masters. */
export function clientNodes(c: RedisClient): string[] {
  if (c instanceof Cluster) return c.nodes('master').map((n) => `${n.options.host}:${n.options.port}`);
  const s = c.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  if (c.options.sentinels) return s?.remoteAddress && c.status === 'ready' ? [`${s.remoteAddress}:${s.remotePort}`] : [];
  return [`${c.options.host}:${c.options.port}`];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The longest a graceful QUIT is waited for (a hung server never answers it); then the connection is dropped. */
export const QUIT_TIMEOUT = 1000;

/** Whether `p` settles within `ms` (the timer is cleared either way: no handle is left). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Graceful QUIT when connected, waited for `quitTimeout` at most (a server that hangs, paused or
 * stuck, never answers it); otherwise, or when QUIT was not answered in time, disconnect and wait
 * out ioredis's disconnect timer (the socket's end is not answered either). A Sentinel client
 * also waits for its look-up loop to stop and its sentinel probes' timers to end.
 */
export async function quitOrDisconnect(client: RedisClient, quitTimeout = QUIT_TIMEOUT): Promise<void> {
  closing.add(client);
  const wasReady = client.status === 'ready';
  const quit = wasReady ? client.quit().catch(() => undefined) : undefined;
  if (quit !== undefined && (await settlesWithin(quit, quitTimeout))) {
    client.disconnect();
  } else {
    client.disconnect();
    await sleep(DISCONNECT_TIMEOUT + 20);
    await quit; // rejected (caught) once the dropped connection flushes its commands
  }
  if (!sentinelClients.has(client)) return;
  const stoppedAt = Date.now();
  // The loop ends at its next turn (at most 500 ms of retry delay, then one probe per sentinel).
  for (let i = 0; i < 100 && client.status !== 'end'; i++) await sleep(20);
  // A probe under way when the client was closed reports nothing (ioredis throws "Connection is
  // closed" before its sentinelError), so while no master was reached its connection may linger
  // from the close on.
  const lastProbe = Math.max(lastFailedProbe.get(client) ?? -Infinity, wasReady ? -Infinity : stoppedAt);
  const left = lastProbe + SENTINEL_PROBE_LINGER - Date.now();
  if (left > 0) await sleep(left);
}
