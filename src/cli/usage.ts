// Help texts. The flags of `serve` are listed from the configuration schema, so the help cannot
// drift from what the command accepts.
import { allOptions, type SectionName } from '../config/index.js';

export const COMMANDS = ['serve', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

export const MAIN_USAGE = `Usage: headroom <command> [flags]

Commands:
  serve     start the gateway (streaming proxy, cache, image proxy, health, metrics, admin API)
  help      show this help, or the help of a command: headroom help serve

Flags:
  -h, --help      show the help of the command
  -v, --version   print the version

Run "headroom serve --help" for every option of the gateway.
`;

const firstSentence = (doc: string): string => /^.*?\.(?=\s|$)/.exec(doc)?.[0] ?? doc;

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

function serveUsage(): string {
  const width = Math.max(...allOptions.map((o) => o.option.flag.length)) + 4;
  const out = [
    'Usage: headroom serve [flags]',
    '',
    'Starts the gateway. Every flag takes a value (--port 8080 or --port=8080) and is also an',
    'environment variable, named after it, and a key of the config file. Precedence: flag >',
    'environment > config file > default. Full reference: docs/configuration.md',
    '',
    `  ${'-h, --help'.padEnd(width)}show this help`,
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

export function usage(command?: Command): string {
  return command === 'serve' ? serveUsage() : MAIN_USAGE;
}
