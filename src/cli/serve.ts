// `headroom serve`: loads the configuration, starts the gateway, and stops it on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { allOptions, ConfigError, loadConfig, suggest } from '../config/index.js';
import { unknownFlag } from '../options/suggest.js';
import { createGateway, type Gateway } from '../server/gateway.js';
import { isHeadroomError } from '../errors.js';
import { createGatewayLogger } from '../server/logger.js';
import { MAX_PENDING_BYTES, createLogOutput } from './log-output.js';
import { fail } from './fail.js';
import { formatBytes } from '../options/spec.js';

// How long the exit waits for log lines to reach stdout once the gateway has stopped.
const LOG_SETTLE_MS = 2_000;
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export { fail } from './fail.js';

function parseFlags(argv: string[]): Record<string, string | undefined> {
  const flags = Object.fromEntries([...allOptions.map(({ option }) => option.flag), 'config'].map((f) => [f, { type: 'string' as const }]));
  try {
    const { values, tokens } = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: false, tokens: true });
    // parseArgs keeps the last of a repeated flag: which one the user meant is not ours to guess.
    const seen = new Set<string>();
    for (const t of tokens) {
      if (t.kind !== 'option') continue;
      if (seen.has(t.name)) fail(`--${t.name} is given more than once: give it once`, 2);
      seen.add(t.name);
    }
    return values as Record<string, string | undefined>;
  } catch (err) {
    // Said as the other commands say it (parseArgs's own words name its API: "Option '--port <value>'").
    const { code, message } = err as NodeJS.ErrnoException;
    const name = /'--([^'= ]+)/.exec(message)?.[1];
    const names = Object.keys(flags);
    let why: string;
    // A prefix finds what edit distance misses (--upstream → --upstream-url).
    const hintOf = (word: string): string | undefined => suggest(word, names) ?? names.find((n) => n.startsWith(`${word}-`));
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      // One dash (-metrics-token): parseArgs reads it as short flags and names only the first letter.
      why = unknownFlag(name ? `--${name}` : (argv.find((a) => /^-[^-]/.test(a)) ?? '-'), names, hintOf);
    else if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name)
      why = `--${name} needs a value (one that starts with a dash is given as --${name}=VALUE)`;
    else if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
      // Not shown: a stray argument is often a secret split off its flag (`--headroom-admin-token= s3cret`).
      why = "unexpected argument '<hidden>': serve takes only flags, each as --flag VALUE or --flag=VALUE";
    else why = message;
    fail(`${why}\nRun "headroom serve --help" for every flag.`, 2);
  }
}

export async function serve(argv: string[], version: string): Promise<void> {
  const flags = parseFlags(argv);
  let loaded;
  try {
    loaded = loadConfig({ flags, env: process.env, configFile: flags.config });
  } catch (err) {
    if (err instanceof ConfigError) fail(`${err.message}\nSee docs/configuration.md for every option.`, 2);
    throw err;
  }

  // A part may refuse its options only once it sees the machine (a foreign CACHE_DIR, a
  // LOG_SHIP_SPILL_DIR under a file): exit 2 with its one line, as for any other bad value.
  const refusedAtStart = (err: unknown): never => {
    if (isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID') fail(`invalid configuration:\n  ${err.message}`, 2);
    throw err;
  };
  const logs = createLogOutput();
  const { logger, shipper: logShipper } = await createGatewayLogger(loaded.config, logs.stream).catch(refusedAtStart);
  logs.onRecovered(({ lines, bytes }) =>
    logger.warn(
      { droppedLines: lines, droppedBytes: bytes },
      `stdout was not read fast enough: ${lines} log lines (${formatBytes(bytes)}) were dropped while ${formatBytes(MAX_PENDING_BYTES)} of them waited (headroom_log_stdout_dropped_lines_total counts them)`,
    ),
  );
  for (const w of loaded.warnings) logger.warn(w);
  const gateway: Gateway = await createGateway(loaded.config, { logger, logShipper, logOutput: logs, version }).catch(refusedAtStart);

  const stopListening = (): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  let exiting = false;
  const exit = async (code: number): Promise<void> => {
    exiting = true;
    await logs.settle(LOG_SETTLE_MS);
    // Node joins its thread pool on exit, and a thread stuck in a write (a hung disk, a blocking
    // pipe) never returns: with the default action back, a further signal still ends the process.
    stopListening();
    process.exit(code);
  };
  let stopping = false;
  function onSignal(signal: NodeJS.Signals): void {
    if (stopping) {
      // The second signal ends the process now, by that signal (exit status 128 + its number).
      // Once exit() has begun, the log stream is closed.
      if (!exiting) logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
      stopListening();
      process.kill(process.pid, signal);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    gateway.shutdown().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        return exit(1);
      },
    );
  }
  for (const s of SIGNALS) process.on(s, onSignal);

  try {
    // listen() logs the one-line start-up summary (url, upstream, L2, admin, image origins, limits).
    const url = await gateway.listen();
    if (gateway.demoOrigin) {
      const image = encodeURIComponent(`${gateway.demoOrigin.url}/images/demo.jpg`);
      const api = `${url}${gateway.config.proxy.prefix}`;
      logger.info(
        `demo: try ${api}/items (proxied and cached), ${api}/download?size=104857600 (streamed), ` +
          `${url}/image?url=${image}&w=400&format=webp (resized), ${url}/health and ${url}/metrics`,
      );
    }
  } catch (err) {
    const { host, port } = loaded.config.server;
    const why = listenProblem(err, host, port);
    // A cause named in words needs no stack trace; an unknown one keeps it.
    logger.error(
      why ? { code: (err as NodeJS.ErrnoException).code } : { err },
      `could not listen on ${host}:${port}${why ? `: ${why}` : ''}`,
    );
    await gateway.close();
    // A port or address the machine refuses is a configuration the user must change: exit 2 with
    // one line, as for any other bad value; anything else is a failure (1), its error in the log.
    if (why) process.stderr.write(`headroom: could not listen on ${host}:${port}: ${why}\n`);
    await exit(why ? 2 : 1);
  }
}

/** Why listening failed, in the user's terms, for the causes a changed PORT or HOST fixes. */
function listenProblem(err: unknown, host: string, port: number): string | undefined {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return `another process listens on port ${port} (ss -ltnp 'sport = :${port}' names it): stop it, or set another PORT`;
    case 'EACCES':
      return `permission denied: ports below 1024 need privileges (CAP_NET_BIND_SERVICE); set PORT to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine: set HOST to one of its addresses, 0.0.0.0 (every IPv4 interface) or :: (every interface)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name ${host} does not resolve: set HOST to an IP address, such as 0.0.0.0 in a container`;
    default:
      return undefined;
  }
}
