// Help texts. The flags of `serve` are listed from the configuration schema, so the help cannot
// drift from what the command accepts (loaded only for that help: `run` stays small).
import type { SectionName } from '../config/index.js';

export const COMMANDS = ['serve', 'run', 'flags', 'soak', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

export const MAIN_USAGE = `Usage: headroom <command> [flags]

Commands:
  serve     start the gateway (streaming proxy, cache, image proxy, health, metrics, admin API)
  run       run a command with V8 heap flags sized to the container: headroom run -- node app.js
  flags     print those flags, for NODE_OPTIONS or a Dockerfile
  soak      fail CI on a memory leak: headroom soak --duration 3m -- node server.js
  help      show this help, or the help of a command: headroom help serve

Flags:
  -h, --help      show the help of the command
  -v, --version   print the version

Run "headroom serve --help" for every option of the gateway.
`;

// A full stop ends the sentence unless it ends an abbreviation ("e.g.", "i.e.", "etc.", "vs.") inside it.
const firstSentence = (doc: string): string => /^.*?(?<!\b(?:e\.g|i\.e|etc|vs))\.(?=\s|$)/.exec(doc)?.[0] ?? doc;

/** `text` in lines of at most `width` characters (longer words stay whole), each after `indent`. */
function wrap(text: string, indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, indent + line];
}

const SIZING_OPTIONS = `  --memory SIZE            size for this limit instead of the cgroup's (512m, 512Mi, 1.5GiB, bytes)
  --processes N            Node processes sharing the limit (cluster workers, several servers); 1 to 256
  --heap-snapshot-dir DIR  write a heap snapshot near the heap limit to DIR, when the limit leaves
                           room for one (up to 12× the heap beside it); the heap shrinks to make room
  --explain                print the limit, its source, the reserve and each flag with its reason
  -h, --help               show this help`;

export const RUN_USAGE = `Usage: headroom run [options] -- <command> [args…]

Reads the memory limit the process really has (cgroup v2 memory.max and memory.high, cgroup v1
memory.limit_in_bytes, nested cgroups), derives --max-old-space-size and --max-semi-space-size
with a reserve for memory outside the heap, and runs the command with them: on the command line
of a \`node …\` command, in NODE_OPTIONS for any other. Flags already given (argv or NODE_OPTIONS)
are kept. Signals (TERM, INT, HUP, QUIT, USR2) are forwarded; headroom run ends as the command
ends (its exit code, or its signal). The command also gets MEMORY_RSS_LIMIT (its budget) unless set.

Options:
${SIZING_OPTIONS}

Example: headroom run --explain -- node server.js
Details: docs/run.md
`;

export const FLAGS_USAGE = `Usage: headroom flags [options]

Prints the flags headroom run would give Node, on one line, for NODE_OPTIONS or a Dockerfile:
  NODE_OPTIONS="$(headroom flags)" node server.js
Here Node is the only process: no runner's memory is set aside. --explain writes the derivation
to stderr.

Options:
${SIZING_OPTIONS}
`;

async function serveUsage(): Promise<string> {
  const { allOptions } = await import('../config/index.js');
  const width = Math.max(...allOptions.map((o) => o.option.flag.length)) + 4;
  const out = [
    'Usage: headroom serve [flags]',
    '',
    'Starts the gateway. Every flag takes a value (--port 8080 or --port=8080) and is also an',
    'environment variable, named after it, and a key of the config file. Precedence: flag >',
    'environment > config file > default. Full reference: docs/configuration.md',
    '',
    `  ${'-h, --help'.padEnd(width)}show this help`,
    `  ${'-v, --version'.padEnd(width)}print the version`,
    `  ${'--config FILE'.padEnd(width)}JSON config file whose keys are variable names (env HEADROOM_CONFIG)`,
  ];
  let section: SectionName | undefined;
  for (const { section: s, option } of allOptions) {
    if (s !== section) {
      section = s;
      out.push('', `${s[0]!.toUpperCase()}${s.slice(1)}:`);
    }
    out.push(`  ${`--${option.flag}`.padEnd(width)}${option.env} (default: ${option.defaultText})`);
    out.push(...wrap(firstSentence(option.doc), ' '.repeat(width + 2), 98 - width));
  }
  return `${out.join('\n')}\n`;
}

export async function usage(command?: Command): Promise<string> {
  if (command === 'serve') return serveUsage();
  if (command === 'run') return RUN_USAGE;
  if (command === 'flags') return FLAGS_USAGE;
  if (command === 'soak') return (await import('./soak.js')).SOAK_USAGE;
  return MAIN_USAGE;
}
