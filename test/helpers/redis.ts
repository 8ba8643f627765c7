// Starts a real redis-server on a free loopback port for a test suite.
// Without the binary, suites print a loud SKIP locally; with HEADROOM_REQUIRE_REDIS=1 (CI) they fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server (SIGKILL-free: SIGTERM, then waits for exit). */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()). */
  start(): Promise<void>;
}

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The topologies also need redis-cli (cluster creation, probes). */
export function redisToolsAvailable(): boolean {
  return redisAvailable() && spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Returns false (after printing SKIP) when redis-server (and redis-cli with `tools`) is missing and not required. */
export function redisOrSkip(suite: string, tools = false): boolean {
  if (tools ? redisToolsAvailable() : redisAvailable()) return true;
  const what = tools ? 'redis-server and redis-cli' : 'redis-server';
  if (process.env.HEADROOM_REQUIRE_REDIS === '1' || process.env.CI === 'true') {
    throw new Error(`${suite}: ${what} is required (HEADROOM_REQUIRE_REDIS=1 or CI) but is not on PATH`);
  }
  console.warn(`\n*** SKIP ${suite}: ${what} is not on PATH (apt-get install -y redis-server redis-tools) ***\n`);
  return false;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `dir`: the data is kept there (append-only file, every write synced), so it survives stop() and start(). */
export async function startRedis(options: { dir?: string } = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const persistence = options.dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', options.dir] : ['--appendonly', 'no'];
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], {
      stdio: 'ignore',
    });
    await waitFor(() => portOpen(port), `redis-server listening on ${port}`, 5000, 25);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, start, stop };
}

// --- Topologies: a real Redis Cluster (3 masters, 3 replicas) and a Sentinel trio watching a master
// and a replica, all on 127.0.0.1 in a temporary directory, started once per test file.

/** One redis-server (or sentinel) process of a topology. */
export interface RedisProcess {
  port: number;
  pid: number | undefined;
  /** SIGKILL (a crash) or SIGTERM, then waits for the exit. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  readonly running: boolean;
}

/**
 * A redis-server (or sentinel) on a free port, once it listens. freePort() only says a port was
 * free a moment ago: a test file running alongside can take it first, and the server then exits at
 * once. So an exit is retried on new ports (three tries) rather than waited out.
 */
async function startListening(what: string, args: (port: number) => string[] | Promise<string[]>): Promise<RedisProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const p = startProcess(await args(port), port);
    try {
      // Listening is asked of the server itself: the port may be open because someone else has it.
      const ours = async (): Promise<boolean> =>
        (await portOpen(port)) && new RegExp(`^process_id:${p.pid}\\s*$`, 'm').test(ask(port, 'info', 'server'));
      await waitFor(async () => !p.running || (await ours()), `${what} on ${port}`, 15_000, 25);
    } catch (err) {
      await p.kill('SIGKILL');
      throw err;
    }
    if (p.running) return p;
    if (attempt === 3) throw new Error(`${what}: redis-server exited at start ${attempt} times (its ports taken?)`);
  }
}

function startProcess(args: string[], port: number): RedisProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  let exited = false;
  const exit = once(child, 'exit').then(() => (exited = true));
  return {
    port,
    pid: child.pid,
    get running() {
      return !exited;
    },
    async kill(signal = 'SIGTERM') {
      if (exited) return;
      child.kill(signal);
      await exit;
    },
  };
}

/** redis-cli with a time bound; its stdout, or an error naming the command and its output. */
function cli(args: string[], timeout = 20_000): string {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Asks one server; '' when it does not answer (down, or starting). */
function ask(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 2000 });
  return r.status === 0 ? r.stdout : '';
}

const dataArgs = (port: number, dir: string): string[] => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--dir',
  dir,
  '--save',
  '',
  '--appendonly',
  'no',
];

export interface RedisClusterHandle {
  /** host:port of every node (masters first as created). */
  nodes: string[];
  processes: RedisProcess[];
  /** Ports of the current masters (asked from the nodes that are up). */
  masterPorts(): number[];
  /** Waits until every running node says cluster_state:ok and sees `masters` masters with slots. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node, waits for their exit and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-redis-cluster-'));
  const processes: RedisProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(processes.map((p) => p.kill('SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    for (let i = 0; i < 6; i++) {
      processes.push(
        await startListening('cluster node', async (port) => [
          ...dataArgs(port, dir),
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(await freePort()),
          '--cluster-config-file',
          `nodes-${port}.conf`,
          // Failures are noticed within a second, so a failover takes a few seconds, not minutes.
          '--cluster-node-timeout',
          '1000',
        ]),
      );
    }
    const nodes = processes.map((p) => `127.0.0.1:${p.port}`);
    cli(['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes']);
    const masterPorts = (): number[] => {
      const up = processes.find((p) => p.running && ask(p.port, 'ping').trim() === 'PONG');
      if (!up) return [];
      return ask(up.port, 'cluster', 'nodes')
        .split('\n')
        .filter((l) => / master /.test(` ${l.split(' ')[2]?.replace(/,/g, ' ')} `) && !l.includes('fail') && l.split(' ').length > 8)
        .map((l) => Number(/:(\d+)@/.exec(l)?.[1]));
    };
    const waitHealthy = async (timeoutMs = 20_000): Promise<void> => {
      await waitFor(
        () =>
          processes.filter((p) => p.running).every((p) => ask(p.port, 'cluster', 'info').includes('cluster_state:ok')) &&
          masterPorts().length === 3,
        'the cluster to be ok with 3 masters',
        timeoutMs,
        100,
      );
    };
    await waitHealthy();
    return { nodes, processes, masterPorts, waitHealthy, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface RedisSentinelHandle {
  /** host:port of the three sentinels. */
  sentinels: string[];
  name: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinelProcesses: RedisProcess[];
  /** The port the sentinels name as master now. */
  masterPort(): number;
  /** Stops every process, waits for their exit and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startRedisSentinel(name = 'headroom'): Promise<RedisSentinelHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-redis-sentinel-'));
  const all: RedisProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(all.map((p) => p.kill('SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    const master = await startListening('master', (port) => dataArgs(port, dir));
    all.push(master);
    const masterPort = master.port;
    const replica = await startListening('replica', (port) => [...dataArgs(port, dir), '--replicaof', '127.0.0.1', String(masterPort)]);
    all.push(replica);
    const replicaPort = replica.port;
    await waitFor(() => ask(replicaPort, 'info', 'replication').includes('master_link_status:up'), 'the replica to sync', 10_000, 50);
    const sentinelProcesses: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await startListening('sentinel', (port) => {
        // A sentinel rewrites its configuration file: one writable file each.
        const conf = join(dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            `sentinel parallel-syncs ${name} 1`,
            '',
          ].join('\n'),
        );
        return [conf, '--sentinel'];
      });
      sentinelProcesses.push(p);
      all.push(p);
    }
    const currentMaster = (): number => {
      for (const s of sentinelProcesses) {
        if (!s.running) continue;
        const out = ask(s.port, 'sentinel', 'get-master-addr-by-name', name).trim().split('\n');
        if (out.length === 2) return Number(out[1]);
      }
      return 0;
    };
    // Ready when each sentinel knows the replica and the two other sentinels (a failover needs both).
    await waitFor(
      () =>
        sentinelProcesses.every(
          (s) =>
            ask(s.port, 'sentinel', 'replicas', name).includes(String(replicaPort)) &&
            (ask(s.port, 'sentinel', 'sentinels', name).match(/^name$/gm) ?? []).length === 2,
        ),
      'the sentinels to know the replica and each other',
      20_000,
      100,
    );
    return {
      sentinels: sentinelProcesses.map((p) => `127.0.0.1:${p.port}`),
      name,
      master,
      replica,
      sentinelProcesses,
      masterPort: currentMaster,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
