#!/usr/bin/env node
// headroom CLI. `headroom serve` starts the gateway; bad configuration exits with code 2.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { allOptions, ConfigError, loadConfig, suggest } from '../config/index.js';
import { createGateway } from '../server/gateway.js';
import { isHeadroomError } from '../errors.js';
import { createLogger } from '../server/logger.js';

const USAGE = `Usage: headroom <command> [flags]

Commands:
  serve     start the gateway (streaming proxy, cache, image proxy, health, metrics, admin API)
  help      show this help

Flags of serve (every option also has an environment variable; see docs/configuration.md):
  --config FILE       JSON config file whose keys are variable names
  --port N            PORT (default 3000)
  --host HOST         HOST (default 127.0.0.1)
  --upstream URL      UPSTREAM_URL (default: the built-in demo origin)
  --<option-name> V   any option, e.g. --memory-warning-threshold 0.7
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(message: string, code: number): never {
  process.stderr.write(`headroom: ${message}\n`);
  process.exit(code);
}

async function serve(argv: string[]): Promise<void> {
  const flagOptions = Object.fromEntries([
    ...allOptions.map(({ option }) => [option.flag, { type: 'string' as const }]),
    ['config', { type: 'string' as const }],
  ]);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: flagOptions, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (err) {
    const unknown = /'(--[^']+)'/.exec((err as Error).message)?.[1];
    const hint = unknown ? suggest(unknown.slice(2), Object.keys(flagOptions)) : undefined;
    // A stray argument is often a secret split off its flag (`--headroom-admin-token= s3cret`).
    const message = (err as Error).message.replace(/^(Unexpected argument )'[^']*'/, "$1'<hidden>'");
    fail(`${message}${hint ? ` (did you mean --${hint}?)` : ''}\n\n${USAGE}`, 2);
  }

  let loaded;
  try {
    loaded = loadConfig({
      flags: values as Record<string, string | undefined>,
      env: process.env,
      configFile: values.config as string | undefined,
    });
  } catch (err) {
    if (err instanceof ConfigError) fail(`${err.message}\nSee docs/configuration.md for every option.`, 2);
    throw err;
  }

  const logger = createLogger(loaded.config.server.logLevel);
  for (const w of loaded.warnings) logger.warn(w);
  let gateway;
  try {
    gateway = await createGateway(loaded.config, { logger });
  } catch (err) {
    // A part may refuse its options only once it sees the machine (e.g. a foreign CACHE_DIR).
    if (isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID') fail(`invalid configuration:\n  ${err.message}`, 2);
    throw err;
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    logger.info({ signal }, 'signal received');
    gateway.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const url = await gateway.listen();
    logger.info({ url, upstream: gateway.upstreamUrl, version: version() }, `headroom gateway listening on ${url}`);
    if (gateway.demoOrigin) {
      const image = encodeURIComponent(`${gateway.demoOrigin.url}/images/demo.jpg`);
      logger.info(
        `demo: try ${url}${gateway.config.proxy.prefix}/items (proxied and cached), ${url}${gateway.config.proxy.prefix}/download?size=104857600 (streamed), ` +
          `${url}/image?url=${image}&w=400&format=webp (resized), ${url}/health and ${url}/metrics`,
      );
    }
  } catch (err) {
    logger.error({ err }, 'could not listen');
    await gateway.close();
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`);
      return;
    default: {
      const hint = suggest(command, ['serve', 'help']);
      fail(`unknown command "${command}"${hint ? ` (did you mean ${hint}?)` : ''}\n\n${USAGE}`, 2);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`headroom: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
