// `headroom soak [options] -- <command>`: the leak gate. Exit codes: 0 no leak, 1 leak,
// 3 inconclusive, 2 bad usage or the service did not start or exited during the soak, 128 + n
// when signal n stopped it.
import { statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { formatMs, parseDuration } from '../options/spec.js';
import {
  parseAttach,
  parseScenario,
  renderHtml,
  runSoak,
  SoakAttachError,
  SoakStartError,
  type SoakOptions,
  type SoakProgress,
  type SoakReport,
} from '../soak/index.js';
import { snapshotText } from '../soak/report/text.js';
import { minDurationMs } from '../soak/options.js';
import { DEFAULT_THRESHOLDS } from '../soak/verdict.js';
import { unknownFlag } from '../options/suggest.js';
import { fail } from './fail.js';
import { dirProblem, fsReason, readSmallFile } from '../options/user-files.js';

/** A scenario is a short list of requests: a bigger file is a mistake (or /dev/zero). */
const MAX_SCENARIO_BYTES = 1024 * 1024;

export const SOAK_USAGE = `Usage: headroom soak [options] -- <command that starts the service>
       headroom soak --attach PORT|pid:PID --url URL [options]

Starts the service with its inspector on 127.0.0.1, sends load, forces a full GC at quiet points
and reads the heap, and says whether retained memory (heap + Buffers) grows with the requests
served: a Theil–Sen slope with a 95 % rank interval, judged after warm-up in rounds; a clear
verdict ends the run early, a borderline one runs on within the budget. On a leak it takes heap
snapshots of the service and names the constructors that grew in every interval between them.

Options:
  --url URL            where load goes (127.0.0.1/localhost only); default: the service gets a free
                       port in $PORT and load goes to http://127.0.0.1:$PORT (paths on that port:
                       --scenario)
  --scenario FILE      JSON: [{ "method", "path", "headers", "body", "weight" }, …]; default GET /
  --duration D         total time budget (default 3m; at least ${formatMs(minDurationMs(DEFAULT_THRESHOLDS))} with the default warm-up, the
                       shortest in which a leak verdict is reachable); ms, s, m or h
  --warmup D           excluded from the verdict (default: a sixth of the budget, at most 30s)
  --start-timeout D    how long the service may take to accept connections (default 30s)
  --connections N      concurrent connections (default 8)
  --rate N             requests per second overall (default 0: as fast as the service answers)
  --attach PORT|pid:PID
                       measure a process that is already running: the port of its inspector
                       (--inspect=127.0.0.1:PORT), or pid:PID of a Node process (SIGUSR1 opens its
                       inspector on 127.0.0.1:9229; any other process is refused, not signalled);
                       needs --url, takes no command, leaves it running
  --snapshots N        heap snapshots to diff on a leak (default 3; 0: none; at most 10)
  --snapshot-budget D  aim to name the leak within this time of the first snapshot (default 60s;
                       0: none): V8 needs ~26 s per snapshot of a 470 MiB heap, so on a big heap
                       the snapshots come closer together, then fewer (never under 2)
  --snapshot-dir DIR   keep the snapshot files there (default: a temporary directory, removed)
  --json FILE          write the machine-readable report (samples, rounds, slopes, load, cost, diff)
  --html FILE          write a self-contained HTML report with charts (heap, RSS, slope over time)
  -h, --help           show this help

Exit code: 0 no leak · 1 leak · 3 inconclusive · 2 bad usage, or the service did not start, exited,
           never answered or answered the warm-up only with errors · 128 + n stopped by signal n
           (Ctrl-C: 130)
Examples: headroom soak --duration 2m --html soak.html -- node server.js
          headroom soak --attach 9229 --url http://127.0.0.1:3000
Details: docs/soak.md
`;

const EXIT = { 'no-leak': 0, leak: 1, inconclusive: 3 } as const;
const VALUE_OPTIONS = [
  'url',
  'scenario',
  'duration',
  'warmup',
  'start-timeout',
  'connections',
  'rate',
  'json',
  'html',
  'attach',
  'snapshots',
  'snapshot-dir',
  'snapshot-budget',
] as const;

export interface SoakArgs {
  options: Omit<SoakOptions, 'command'>;
  command: string[];
  json?: string;
  html?: string;
}

const usageHint = 'Run "headroom soak --help" for the options.';

/** runSoak's option names in its messages, as the flags that set them (values stay in ms). */
const FLAG_OF: Record<string, string> = {
  durationMs: '--duration',
  warmupMs: '--warmup',
  startTimeoutMs: '--start-timeout',
  snapshotBudgetMs: '--snapshot-budget',
  snapshotDir: '--snapshot-dir',
  snapshots: '--snapshots',
  connections: '--connections',
  rate: '--rate',
  url: '--url',
};
const OPTION_NAME = new RegExp(`\\b(${Object.keys(FLAG_OF).join('|')}):`, 'g');
const asFlags = (message: string): string => message.replace(OPTION_NAME, (_m, name: string) => `${FLAG_OF[name]}:`);

function durationOf(name: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) fail(`--${name}=${value}: must be a duration (a number of ms, or with ms, s, m or h: 90s, 3m)`, 2);
  return ms;
}

function integerOf(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    fail(`--${name}=${value}: must be an integer from ${min} to ${max}`, 2);
  return Number(value);
}

export function parseSoakArgs(argv: string[]): SoakArgs {
  const options: SoakArgs['options'] = {};
  let json: string | undefined;
  let html: string | undefined;
  let command: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      command = argv.slice(i + 1);
      break;
    }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(token);
    // One dash (-url): a flag with a dash missing, not a command.
    if (!m && /^-[^-]/.test(token)) fail(`${unknownFlag(token, VALUE_OPTIONS)}. ${usageHint}`, 2);
    // Not shown: a stray argument is often a secret split off its flag (`--url= http://u:pw@host/`).
    if (!m)
      fail(`unexpected argument '<hidden>' (not a flag): put the command after --, e.g. headroom soak -- node server.js. ${usageHint}`, 2);
    const name = m[1]!;
    if (!(VALUE_OPTIONS as readonly string[]).includes(name)) fail(`${unknownFlag(token, VALUE_OPTIONS)}. ${usageHint}`, 2);
    let value = m[2];
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value === '--') fail(`--${name} needs a value. ${usageHint}`, 2);
    }
    switch (name) {
      case 'url':
        options.url = value;
        break;
      case 'scenario': {
        let parsed: unknown;
        try {
          parsed = JSON.parse(readSmallFile(value, MAX_SCENARIO_BYTES));
        } catch (err) {
          fail(`--scenario ${value}: ${(err as Error).message}`, 2);
        }
        try {
          options.requests = parseScenario(parsed);
        } catch (err) {
          fail(`--scenario ${value}:\n${(err as Error).message}`, 2);
        }
        break;
      }
      case 'duration':
        options.durationMs = durationOf(name, value);
        break;
      case 'warmup':
        options.warmupMs = durationOf(name, value);
        break;
      case 'start-timeout':
        options.startTimeoutMs = durationOf(name, value);
        break;
      case 'connections':
        options.connections = integerOf(name, value, 1, 1024);
        break;
      case 'rate':
        options.rate = integerOf(name, value, 0, 1_000_000);
        break;
      case 'json':
      case 'html':
      case 'snapshot-dir':
        if (value === '') fail(`--${name} needs a ${name === 'snapshot-dir' ? 'directory' : 'file name'}`, 2);
        if (name === 'json') json = value;
        else if (name === 'html') html = value;
        else options.snapshotDir = value;
        break;
      case 'snapshots':
        options.snapshots = integerOf(name, value, 0, 10);
        if (options.snapshots === 1) fail('--snapshots=1: one snapshot cannot be diffed; give 0 (none) or 2 to 10', 2);
        break;
      case 'snapshot-budget':
        options.snapshotBudgetMs = durationOf(name, value);
        break;
      case 'attach': {
        const target = parseAttach(value);
        if (!target)
          fail(`--attach=${value}: must be an inspector port (1 to 65535, e.g. 9229 or port:9229) or pid:PID of a Node process`, 2);
        options.attach = target;
        break;
      }
    }
  }
  if (options.attach) {
    if (command.length > 0) fail(`--attach measures a running process: it takes no command after --. ${usageHint}`, 2);
    if (options.url === undefined) fail(`--attach needs --url: where the running service takes load. ${usageHint}`, 2);
  } else if (command.length === 0)
    fail(`soak needs the command that starts the service: headroom soak [options] -- node server.js. ${usageHint}`, 2);
  return { options, command, json, html };
}

const mib = (n: number | undefined): string => (n === undefined ? '?' : `${(n / 1048576).toFixed(1)} MiB`);

function statusLine(p: SoakProgress): string {
  const j = p.judgement;
  const slope = j.perRequest ? `${j.perRequest.slope.toFixed(1)} B/req` : '–';
  const phase = p.warmup ? 'warm-up' : j.verdict === 'inconclusive' ? 'measuring' : j.verdict;
  return `soak ${formatMs(Math.round(p.elapsedMs / 1000) * 1000)}/${formatMs(p.budgetMs)} · ${p.rps.toFixed(0)} req/s · heap ${mib(p.sample.heapUsed)} (+${mib(p.sample.external)} ext) · rss ${mib(p.sample.rss)} · slope ${slope} · ${phase}`;
}

function summary(r: SoakReport): string {
  const j = r.judgement;
  const lines = [
    `headroom soak: ${r.verdict.toUpperCase()} — ${r.reason}`,
    `  load: ${r.load.requests} requests in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.load.rps.toFixed(0)} req/s), ${r.load.errors} errors, statuses ${JSON.stringify(r.load.statuses)}, latency p50 ${r.load.latencyMs.p50.toFixed(1)} ms p99 ${r.load.latencyMs.p99.toFixed(1)} ms`,
  ];
  if (j.perSecond)
    lines.push(
      `  growth: ${j.perRequest!.slope.toFixed(1)} B/request, ${(j.perSecond.slope / 1024).toFixed(2)} KiB/s (window of ${j.window!.samples} samples, ${j.window!.requests} requests)`,
    );
  const last = r.samples[r.samples.length - 1];
  if (last)
    lines.push(
      `  target: heap ${mib(last.heapUsed)}, external ${mib(last.external)}, rss ${mib(last.rss)}, fds ${last.fds ?? '?'}, handles ${last.handles}`,
    );
  lines.push(
    `  cost: ${r.cost.forcedGcs} forced GCs (${r.cost.gcsPerMinute.toFixed(0)}/min, mean ${r.cost.gcPauseMs.mean.toFixed(1)} ms, max ${r.cost.gcPauseMs.max.toFixed(1)} ms; load paused ${(r.cost.quietMs / 1000).toFixed(1)} s in all)`,
    ...snapshotText(r.snapshots),
    ...r.warnings.map((w) => `  warning: ${w}`),
  );
  return `${lines.join('\n')}\n`;
}

/** Why a report cannot be written to `file`, checked before the soak (not after minutes of it). */
function unwritable(file: string): string | undefined {
  const path = resolve(file);
  try {
    const file = statSync(path, { throwIfNoEntry: false });
    if (file?.isDirectory()) return 'is a directory';
    const dir = dirname(path);
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return `its directory ${dir} does not exist`;
    if (!file) return dirProblem(dir);
    // Emptied now: a soak that stops before its report (a service that never starts, a signal)
    // must not leave an earlier run's verdict there for CI to read.
    truncateSync(path);
    return undefined;
  } catch (err) {
    return fsReason(err, path, true);
  }
}

export async function soak(argv: string[]): Promise<void> {
  const args = parseSoakArgs(argv);
  for (const [flag, file] of [
    ['--json', args.json],
    ['--html', args.html],
  ] as const) {
    const why = file === undefined ? undefined : unwritable(file);
    if (why) fail(`${flag} ${file}: ${why}`, 2);
  }
  const snapshotDir = args.options.snapshotDir;
  const snapshotProblem = snapshotDir === undefined ? undefined : dirProblem(snapshotDir);
  if (snapshotProblem) fail(`--snapshot-dir ${snapshotDir}: ${snapshotProblem}`, 2);
  const stop = new AbortController();
  // The signal that stopped the soak: it still prints what it measured, then exits 128 + the
  // signal's number (Ctrl-C 130), as a shell expects of an interrupted command; not 3, which a
  // CI step reads as "inconclusive: run longer".
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second Ctrl-C must not kill this process with Node's default action: the service (which
    // may ignore SIGTERM) would be left running. It is stopping, bounded: say so.
    if (stoppedBy) {
      process.stderr.write(`\nsoak: already stopping (${signal}): the service gets SIGKILL at most 5 s after its SIGTERM\n`);
      return;
    }
    stoppedBy = signal;
    process.stderr.write(`\nsoak: ${signal}: stopping the service (SIGTERM, SIGKILL after 5 s), then the summary\n`);
    stop.abort();
  };
  const interrupted = (): number | undefined => (stoppedBy ? 128 + osConstants.signals[stoppedBy] : undefined);
  // SIGHUP: the terminal or the ssh session went away. Each stops the soak and the service with it.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, onSignal);
  // Whoever read our output is gone (`… | head`): a write would throw EPIPE and end this process
  // with the service still running. Stop the soak instead; later writes fail quietly.
  const onPipeError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') stop.abort();
  };
  process.stdout.on('error', onPipeError);
  process.stderr.on('error', onPipeError);
  const tty = process.stderr.isTTY === true;
  let lastPlain = 0;
  const onProgress = (p: SoakProgress): void => {
    if (tty) process.stderr.write(`\r\x1b[K${statusLine(p)}`);
    else if (p.elapsedMs - lastPlain >= 10_000) {
      lastPlain = p.elapsedMs;
      process.stderr.write(`${statusLine(p)}\n`);
    }
  };
  // A warning stays on its own line; other notices are overwritten by the next status line.
  const onNotice = (message: string): void => {
    const keep = !tty || message.startsWith('warning: ');
    process.stderr.write(`${tty ? '\r\x1b[K' : ''}soak: ${message}${keep ? '\n' : ''}`);
  };
  let report: SoakReport;
  try {
    report = await runSoak({
      ...args.options,
      ...(args.options.attach ? {} : { command: args.command }),
      onProgress,
      onNotice,
      signal: stop.signal,
    });
  } catch (err) {
    if (tty) process.stderr.write('\r\x1b[K');
    if (err instanceof SoakStartError || err instanceof SoakAttachError || err instanceof RangeError || err instanceof TypeError)
      fail(asFlags((err as Error).message.replace(/^soak: /, '')), interrupted() ?? 2);
    throw err;
  }
  if (tty) process.stderr.write('\r\x1b[K');
  for (const s of signals) process.off(s, onSignal);
  try {
    if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    if (args.html) writeFileSync(args.html, renderHtml(report));
  } catch (err) {
    process.stdout.write(summary(report));
    fail(`cannot write the report: ${(err as Error).message}`, 2);
  }
  process.stdout.write(summary(report));
  // A service that died under the load cannot be vouched for: a failed run, not "run it longer".
  process.exitCode = interrupted() ?? (report.target.exited || report.target.serviceExited ? 2 : EXIT[report.verdict]);
}
