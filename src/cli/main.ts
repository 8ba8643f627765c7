#!/usr/bin/env node
// headroom CLI: `headroom <command> [flags]`. Bad usage or configuration exits with code 2;
// --help prints the usage of the command and exits 0.
import { readFileSync } from 'node:fs';
import { suggest } from '../config/index.js';
import { fail, serve } from './serve.js';
import { COMMANDS, usage, type Command } from './usage.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const isCommand = (s: string | undefined): s is Command => (COMMANDS as readonly (string | undefined)[]).includes(s);
// Neither can be a flag's value: parseArgs refuses values that start with a dash unless given as --flag=-x.
const wantsHelp = (args: string[]): boolean => args.includes('--help') || args.includes('-h');

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(usage());
    return;
  }
  if (!isCommand(command)) {
    const hint = suggest(command, [...COMMANDS]);
    fail(`unknown command "${command}"${hint ? ` (did you mean ${hint}?)` : ''}\n\n${usage()}`, 2);
  }
  if (command === 'help') {
    const [topic] = rest.filter((a) => a !== '--help' && a !== '-h');
    if (topic !== undefined && !isCommand(topic)) fail(`no help for "${topic}": the commands are ${COMMANDS.join(', ')}`, 2);
    process.stdout.write(usage(topic));
    return;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(usage(command));
    return;
  }
  return serve(rest, version());
}

main().catch((err: unknown) => {
  process.stderr.write(`headroom: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
