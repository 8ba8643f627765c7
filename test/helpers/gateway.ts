// Starts a real gateway on an ephemeral loopback port with a captured log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/server/gateway.js';
import { createLogger } from '../../src/server/logger.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

// Gateways started and not closed, by where they were started: a test that forgets close() leaves
// the gateway's timers, sockets and temporary directory behind, so the test file fails at exit.
const unclosed = new Map<object, string>();
process.once('exit', () => {
  if (unclosed.size === 0) return;
  for (const where of unclosed.values()) console.error(`startGateway: a gateway was never closed; started ${where}`);
  process.exitCode = 1;
});

export interface TestGateway {
  gw: Gateway;
  url: string;
  /** Everything the gateway logged, one JSON line per entry. */
  logs: string[];
  close(): Promise<void>;
}

export async function startGateway(
  env: Record<string, string> = {},
  beforeListen?: (gw: Gateway) => void,
  /** Further createGateway options (busFaults); the logger is always the one whose lines `logs` holds. */
  options: Omit<GatewayOptions, 'logger'> = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-gw-'));
  const logs: string[] = [];
  let gw: Gateway | undefined;
  let url: string;
  try {
    const { config } = loadConfig({
      env: {
        PORT: '0',
        LOG_LEVEL: 'info',
        CACHE_DIR: join(dir, 'cache'),
        HEAP_SNAPSHOT_DIR: join(dir, 'snapshots'),
        ...env,
      },
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    });
    gw = await createGateway(config, { ...options, logger: createLogger(config.server.logLevel, sink) });
    beforeListen?.(gw);
    url = await gw.listen();
  } catch (err) {
    // A test that expects the start to fail (a bad option) leaves neither a gateway nor its directory.
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const started = gw;
  const token = {};
  unclosed.set(token, new Error().stack!.split('\n').slice(2, 5).join(' <'));
  let closed: Promise<void> | undefined;
  return {
    gw: started,
    url,
    logs,
    close: () =>
      (closed ??= (async () => {
        await started.close();
        rmSync(dir, { recursive: true, force: true });
        unclosed.delete(token);
      })()),
  };
}
