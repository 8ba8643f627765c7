// Starts a real gateway on an ephemeral loopback port with a captured log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/server/gateway.js';
import { createLogger } from '../../src/server/logger.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

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
  const { config } = loadConfig({
    env: {
      PORT: '0',
      LOG_LEVEL: 'info',
      CACHE_DIR: join(dir, 'cache'),
      HEAP_SNAPSHOT_DIR: join(dir, 'snapshots'),
      ...env,
    },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const gw = await createGateway(config, { ...options, logger: createLogger(config.server.logLevel, sink) });
  beforeListen?.(gw);
  const url = await gw.listen();
  let closed: Promise<void> | undefined;
  return {
    gw,
    url,
    logs,
    close: () =>
      (closed ??= (async () => {
        await gw.close();
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
