#!/usr/bin/env node
// headroom CLI: `headroom <command> [flags]`. Bad usage or configuration exits with code 2;
// --help prints the usage of the command and exits 0.
import { readFileSync } from 'node:fs';
// The gateway (and the configuration schema) load only for the commands that need them: `run`
// stays small, as it stays in memory beside the command it runs.
import { fail } from './fail.js';
import { COMMANDS, FLAGS_USAGE, RUN_USAGE, usage, type Command } from './usage.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const isCommand = (s: string | undefined): s is Command => (COMMANDS as readonly (string | undefined)[]).includes(s);
// Neither can be a flag's value: parseArgs refuses values that start with a dash unless given as --flag=-x.
const wantsHelp = (args: string[]): boolean => args.includes('--help') || args.includes('-h');
const suggest = async (name: string, names: string[]): Promise<string | undefined> =>
  (await import('../config/index.js')).suggest(name, names);

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(await usage());
    return;
  }
  if (!isCommand(command)) {
    const hint = await suggest(command, [...COMMANDS]);
    fail(`unknown command "${command}"${hint ? ` (did you mean ${hint}?)` : ''}\n\n${await usage()}`, 2);
  }
  if (command === 'help') {
    const [topic] = rest.filter((a) => a !== '--help' && a !== '-h');
    if (topic !== undefined && !isCommand(topic)) fail(`no help for "${topic}": the commands are ${COMMANDS.join(', ')}`, 2);
    process.stdout.write(await usage(topic));
    return;
  }
  // run, flags and soak parse their own options: a --help after `--` belongs to the command being run.
  if (command === 'run') return (await import('./run.js')).run(rest, RUN_USAGE);
  if (command === 'flags') return (await import('./run.js')).flags(rest, FLAGS_USAGE);
  // soak too: everything after its `--` is the service's command line.
  if (command === 'soak') {
    const own = rest.indexOf('--') === -1 ? rest : rest.slice(0, rest.indexOf('--'));
    if (wantsHelp(own)) {
      process.stdout.write(await usage('soak'));
      return;
    }
    return (await import('./soak.js')).soak(rest);
  }
  if (wantsHelp(rest)) {
    process.stdout.write(await usage(command));
    return;
  }
  if (rest.includes('--version') || rest.includes('-v')) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  // Sized to the container first: with no heap flag and a memory limit, the gateway runs as a child.
  if (await (await import('./run.js')).serveUnderRun()) return;
  return (await import('./serve.js')).serve(rest, version());
}

main().catch((err: unknown) => {
  process.stderr.write(`headroom: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
