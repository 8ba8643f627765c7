// Renders docs/configuration.md from the schema, so the reference cannot drift from the code.
import { allOptions, type SectionName } from './schema.js';

const TITLES: Record<SectionName, string> = {
  server: 'Server',
  monitor: 'Memory monitor',
  cache: 'Cache',
  proxy: 'Proxy and admission control',
  image: 'Image proxy',
  log: 'Log shipping',
  alerts: 'Alerts',
  dashboard: 'Dashboard',
};

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderConfigDocs(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/sections/*.ts by `npm run docs`; test/config/docs.test.ts fails when it is stale. -->',
    '',
    'Every option can be given as an environment variable, as a CLI flag of `headroom serve`, or as a key',
    'of a JSON config file (`headroom serve --config FILE` or `HEADROOM_CONFIG=FILE`) whose keys are the',
    'variable names, e.g. `{"PORT": 8080, "CACHE_MAX_BYTES": "128MiB"}`.',
    'Precedence: **flag > environment > config file > default**. An empty environment variable counts as unset; a flag given an empty value (`--port=`) is refused.',
    '',
    'Bad values stop start-up with exit code 2 and one line per problem, naming the variable, the value',
    'given and what is accepted. Unknown variables with one of our prefixes get a "did you mean" warning (a note',
    'under those lines when start-up stops: a misspelt variable is often why a value is missing);',
    'an unknown key in the config file is an error (exit 2), with its suggestion; so are a flag given twice and a key the',
    'config file gives twice.',
    '',
    'Secrets (marked below) are never logged or echoed in errors; give them as environment variables or in the',
    'config file, not as flags: a command line is readable by every user of the host (`ps`, /proc/PID/cmdline).',
    '',
    'Two variables are read before the gateway starts, as environment variables only (not flags, not config',
    'file keys): `HEADROOM_RUN` (`off` starts the gateway without sizing its heap to the container) and',
    "`HEADROOM_MEMORY` (the memory limit to size for instead of the cgroup's); see [run.md](run.md).",
    '',
    'Byte sizes accept an integer or a number with a unit (`512KiB`, `10MB`, `1GiB`; `K`/`M`/`G` are binary).',
    'Durations accept milliseconds or a number with `ms`, `s`, `m` or `h`.',
    'Shares of memory: a name ending in `_PERCENT` takes 0–100 (`80` or `80%`); `MEMORY_WARNING_THRESHOLD`,',
    '`MEMORY_CRITICAL_THRESHOLD` and `MEMORY_HYSTERESIS` take a fraction up to 1 (`0.75`) or a percent (`75`, `75%`).',
    '',
  ];
  for (const section of Object.keys(TITLES) as SectionName[]) {
    out.push(`## ${TITLES[section]}`, '', '| Variable | Flag | Default | Accepted | Description |', '|---|---|---|---|---|');
    for (const { option } of allOptions.filter((o) => o.section === section)) {
      out.push(
        `| \`${option.env}\` | \`--${option.flag}\` | ${cell(option.defaultText)} | ${cell(option.accepted)} | ${cell(option.doc)}${option.secret ? ' *(secret: never logged)*' : ''} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
