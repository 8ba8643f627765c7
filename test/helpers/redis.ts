// Starts a real redis-server on a free loopback port for a test suite.
// Without the binary, suites print a loud SKIP locally; with HEADROOM_REQUIRE_REDIS=1 (CI) they fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
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

/** Returns null (after printing SKIP) when redis-server is missing and not required. */
export function redisOrSkip(suite: string): boolean {
  if (redisAvailable()) return true;
  if (process.env.HEADROOM_REQUIRE_REDIS === '1' || process.env.CI === 'true') {
    throw new Error(`${suite}: redis-server is required (HEADROOM_REQUIRE_REDIS=1 or CI) but is not on PATH`);
  }
  console.warn(`\n*** SKIP ${suite}: redis-server is not on PATH (apt-get install -y redis-server) ***\n`);
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

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
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
