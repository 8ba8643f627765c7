// Shared checks of the deployment kit (deploy/**): every environment variable a file sets is a real
// option with a value the gateway accepts, and the memory numbers fit the container limit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { allOptions, ConfigError, loadConfig, type Config } from '../../src/config/index.js';
import { defaultL1Bytes } from '../../src/cache/options.js';
import { defaultImageMemoryBudget } from '../../src/image/options.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEPLOY = join(ROOT, 'deploy');
export const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
export const readYaml = (path: string): unknown => YAML.parse(read(path));
export const exists = (path: string): boolean => existsSync(join(ROOT, path));

/** Variables a deployment file may set that are not gateway options. */
export const NON_OPTION_ENV = new Set(['NODE_ENV', 'NODE_OPTIONS']);
export const OPTION_ENV = new Set(allOptions.map((o) => o.option.env));
export const SECRET_ENV = new Set(allOptions.filter((o) => o.option.secret).map((o) => o.option.env));

/** The gateway's LOG_SETTLE_MS (src/cli/serve.ts): shutdown waits this long for pending log lines. */
export const LOG_SETTLE_MS = 2_000;

/**
 * Loads the configuration from `env` exactly as `headroom serve` would, after checking every name.
 * Fails with every problem at once, naming `where` (the file and the object in it).
 */
export function configFrom(env: Record<string, string>, where: string): Config {
  const unknown = Object.keys(env).filter((k) => !OPTION_ENV.has(k) && !NON_OPTION_ENV.has(k));
  assert.deepEqual(unknown, [], `${where}: not options (docs/configuration.md): ${unknown.join(', ')}`);
  try {
    return loadConfig({ env }).config;
  } catch (err) {
    if (err instanceof ConfigError) assert.fail(`${where}: the gateway refuses this configuration:\n  ${err.problems.join('\n  ')}`);
    throw err;
  }
}

const UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, '': 1 };

/** Bytes of a Kubernetes memory quantity (512Mi, 1Gi) or a compose size (512m, 1g: binary). */
export function memoryBytes(q: string | number): number {
  if (typeof q === 'number') return q;
  const compose = /^(\d+)([bkmg])$/i.exec(q);
  if (compose) return Number(compose[1]) * { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[compose[2]!.toLowerCase() as 'b']!;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|)$/.exec(q);
  assert.ok(m, `not a memory quantity: ${q}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

const MiB = 2 ** 20;

/**
 * The memory rules every deployment file follows (docs/deployment.md, "Memory numbers"):
 * - the bounded in-process budgets (L1 cache + image decodes) take at most half the container,
 *   leaving the rest for the heap's own objects, sockets, Buffers in flight and native memory;
 * - an explicit MEMORY_RSS_LIMIT is not above the container limit (the default is memory.max itself);
 * - below 512 MiB the heap limit cannot be filled (its young generation never is), so the critical
 *   threshold must be at most 0.8 to ever fire.
 */
export function checkMemory(config: Config, limitBytes: number, where: string): void {
  // CACHE_MAX_BYTES not given: sized from the limit the gateway's monitor would see.
  const limit = config.monitor.rssLimit ?? limitBytes;
  const l1 = config.cache.maxBytes ?? defaultL1Bytes(limit, config.cache.maxEntryBytes);
  const budgets = l1 + (config.image.memoryBudget ?? defaultImageMemoryBudget(limit));
  assert.ok(
    budgets <= limitBytes / 2,
    `${where}: CACHE_MAX_BYTES + IMAGE_MEMORY_BUDGET = ${budgets / MiB} MiB, more than half of the ${limitBytes / MiB} MiB limit`,
  );
  if (config.monitor.rssLimit !== undefined) {
    assert.ok(config.monitor.rssLimit <= limitBytes, `${where}: MEMORY_RSS_LIMIT is above the container limit`);
  }
  if (limitBytes < 512 * MiB) {
    assert.ok(
      config.monitor.criticalThreshold <= 0.8,
      `${where}: with ${limitBytes / MiB} MiB the heap limit cannot be filled; set MEMORY_CRITICAL_THRESHOLD to 0.8 or less`,
    );
  }
}

/**
 * SIGKILL must come after the drain: SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + the log settle time, plus
 * the alerter's and the log shipper's last sends when they are on (each waits its timeout).
 */
export function checkGrace(config: Config, graceSeconds: number, where: string): void {
  const alerts = config.alerts.webhookUrls.length > 0 ? config.alerts.timeout : 0;
  const shipping = config.log.shipUrl ? config.log.timeout : 0;
  const needed = config.server.shutdownDelay + config.server.shutdownTimeout + LOG_SETTLE_MS + alerts + shipping;
  const parts = [
    'SHUTDOWN_DELAY',
    'SHUTDOWN_TIMEOUT',
    `${LOG_SETTLE_MS / 1000}s`,
    ...(alerts ? ['ALERT_TIMEOUT'] : []),
    ...(shipping ? ['LOG_SHIP_TIMEOUT'] : []),
  ];
  assert.ok(
    graceSeconds * 1000 > needed,
    `${where}: grace period ${graceSeconds}s does not cover ${parts.join(' + ')} = ${needed / 1000}s`,
  );
}

/**
 * Runs a tool that may be missing: a loud skip locally, a failure when `requireVar` is 1 (or in CI,
 * for tools .ci/run always installs).
 */
export function toolOrSkip(tool: string, versionArgs: string[], requireVar: string, install: string, requiredInCi = true): boolean {
  if (spawnSync(tool, versionArgs, { stdio: 'ignore' }).status === 0) return true;
  if (process.env[requireVar] === '1' || (requiredInCi && process.env.CI === 'true')) {
    throw new Error(`${tool} is required (${requireVar}=1 or CI) but is not on PATH (${install})`);
  }
  console.warn(`\n*** SKIP: ${tool} is not on PATH (${install}); set ${requireVar}=1 to make this a failure ***\n`);
  return false;
}
