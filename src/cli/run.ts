// `headroom run [options] -- <command>`: reads the container's memory limit, derives V8 flags,
// runs the command with them and ends as it ends. Also `headroom serve`'s self-sizing: the gateway
// re-runs itself under the runner when no heap flag was given and a memory limit binds.
import { constants, totalmem } from 'node:os';
import { basename } from 'node:path';
import v8 from 'node:v8';
import { HeadroomError } from '../errors.js';
import { derive, MiB, MIN_OLD_SPACE, type Derivation } from '../run/derive.js';
import { explain } from '../run/explain.js';
import { oomKillCount, readMemoryLimit, type MemoryLimit } from '../monitor/limit.js';
import { findGivenFlags, ignoredByNode, splitNodeOptions, type GivenFlag } from '../run/node-flags.js';
import { FORWARDED_SIGNALS, isNodeCommand, isPackageManager, plan, start, whyNotStarted, type ChildEnd } from '../run/runner.js';
import { parseSize, SIZE_ACCEPTED, sizeProblem } from '../run/size.js';
import { unknownFlag } from '../options/suggest.js';
import { fail } from './fail.js';
import { dirProblem } from '../options/user-files.js';

export interface RunArgs {
  memory?: number;
  processes?: number;
  heapSnapshotDir?: string;
  explain: boolean;
  help: boolean;
  command?: string;
  args: string[];
}

const VALUE_OPTIONS = ['memory', 'processes', 'heap-snapshot-dir'] as const;
const BOOLEAN_OPTIONS = ['explain', 'help'] as const;

/** Parses the options of `run` (command: everything after `--` or after the first non-option) or `flags` (no command). */
export function parseRunArgs(argv: string[], cmd: 'run' | 'flags'): RunArgs {
  const out: RunArgs = { explain: false, help: false, args: [] };
  const usage = `Run "headroom ${cmd} --help" for the options.`;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--' || !token.startsWith('-')) {
      const rest = token === '--' ? argv.slice(i + 1) : argv.slice(i);
      if (cmd === 'flags' && rest.length > 0)
        fail(`flags takes no command (got "${rest[0]}"): it prints the flags; use headroom run -- <command> to run one`, 2);
      [out.command, ...out.args] = rest;
      break;
    }
    if (token === '-h') {
      out.help = true;
      continue;
    }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(token);
    const name = m?.[1] ?? token;
    if ((BOOLEAN_OPTIONS as readonly string[]).includes(name)) {
      if (m?.[2] !== undefined) fail(`--${name} takes no value (got --${name}=${m[2]}). ${usage}`, 2);
      out[name as 'explain' | 'help'] = true;
      continue;
    }
    if (!(VALUE_OPTIONS as readonly string[]).includes(name))
      fail(`${unknownFlag(token, [...VALUE_OPTIONS, ...BOOLEAN_OPTIONS])}. ${usage}`, 2);
    let value = m?.[2];
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value === '--') fail(`--${name} needs a value. ${usage}`, 2);
    }
    if (name === 'memory') {
      out.memory = memoryLimitOrFail('--memory', value);
    } else if (name === 'processes') {
      if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 256)
        fail(`--processes=${value}: must be an integer from 1 to 256`, 2);
      out.processes = Number(value);
    } else {
      if (value === '') fail(`--heap-snapshot-dir needs a directory`, 2);
      out.heapSnapshotDir = value;
    }
  }
  if (cmd === 'run' && !out.help && out.command === undefined)
    fail(`run needs a command: headroom run [options] -- <command> [args…]. ${usage}`, 2);
  if (cmd === 'run' && !out.help && out.command === '')
    fail(`run needs a command, got an empty one (''): headroom run [options] -- <command> [args…]`, 2);
  return out;
}

interface Derived {
  derivation: Derivation;
  limit: MemoryLimit;
}

/** The user's flags: NODE_OPTIONS, and the options of a `node …` command (`execArgv`: all of them are Node's). */
function givenFlags(env: NodeJS.ProcessEnv, nodeArgv: string[] | undefined, execArgv = false): GivenFlag[] {
  return [
    ...findGivenFlags(splitNodeOptions(env.NODE_OPTIONS ?? ''), 'NODE_OPTIONS'),
    ...(nodeArgv ? findGivenFlags(nodeArgv, execArgv ? 'node options' : 'argv', !execArgv) : []),
  ];
}

/** A memory limit given as text (`--memory`, HEADROOM_MEMORY), in bytes; exit 2 naming `what` when it is not one. */
function memoryLimitOrFail(what: string, raw: string): number {
  const bytes = parseSize(raw);
  if (bytes === undefined) fail(`${what}=${raw}: must be ${SIZE_ACCEPTED}`, 2);
  const problem = sizeProblem(raw, bytes);
  if (problem) fail(`${what}=${raw}: ${problem}`, 2);
  return bytes;
}

function deriveOrFail(input: Parameters<typeof derive>[0]): Derivation {
  try {
    return derive(input);
  } catch (err) {
    if (err instanceof HeadroomError) fail(err.message, 2);
    throw err;
  }
}

function computeFor(a: RunArgs, runnerParent: boolean, nodeArgv: string[] | undefined, execArgv = false, memorySource?: string): Derived {
  const limit = readMemoryLimit();
  const derivation = deriveOrFail({
    limit: limit.bytes,
    limitSource: limit.source,
    memory: a.memory,
    memorySource,
    processes: a.processes,
    runnerParent,
    given: givenFlags(process.env, nodeArgv, execArgv),
    heapSnapshotDir: a.heapSnapshotDir,
    // Without a limit: the runner's own heap limit is V8's default on this machine (heap flags the
    // user gave are in `given`).
    machineMemory: totalmem(),
    defaultHeapLimit: v8.getHeapStatistics().heap_size_limit,
  });
  return { derivation, limit };
}

/** Ends the runner the way its command ended: its exit code, or its signal (128 + n as PID 1). */
export function exitLikeChild(end: ChildEnd): never {
  if (end.signal === null) process.exit(end.code ?? 1);
  const n = constants.signals[end.signal] ?? 0;
  // Signals whose default action dumps core end the runner with 128 + n: a core of the runner
  // says nothing. So does PID 1, whose own signals without a handler the kernel drops.
  const core = ['SIGABRT', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGQUIT', 'SIGSYS', 'SIGTRAP'].includes(end.signal);
  if (!core && process.pid !== 1) {
    for (const s of FORWARDED_SIGNALS) process.removeAllListeners(s);
    process.kill(process.pid, end.signal);
    setTimeout(() => process.exit(128 + n), 1000).unref();
    // Keep the loop alive until the signal lands.
    setInterval(() => {}, 1000);
    return undefined as never;
  }
  process.exit(128 + n);
}

function onSignals(handler: (s: NodeJS.Signals) => void): () => void {
  for (const s of FORWARDED_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of FORWARDED_SIGNALS) process.off(s, handler);
  };
}

/** What a SIGKILL of the command under a memory limit was, from the cgroup's OOM kill count before and after. */
function sigkillCause(d: Derivation, before: OomCount, after: OomCount): string {
  const under = `under a ${Math.round(d.limit! / 2 ** 20)} MiB memory limit (${d.limitSource})`;
  const outside = 'memory outside the V8 heap (Buffers, native modules, a heap snapshot) went past the limit';
  if (before && after && after.file === before.file) {
    if (after.count > before.count)
      return `the command was killed (SIGKILL) by the kernel's OOM killer ${under} (oom_kill in ${after.file}: ${before.count} → ${after.count}): ${outside}`;
    return `the command was killed (SIGKILL) ${under}, not by the cgroup's OOM killer (oom_kill in ${after.file} stayed ${after.count}): something else sent it`;
  }
  return `the command was killed (SIGKILL) ${under}: most likely the kernel's OOM killer — ${outside} (dmesg, or oom_kill in the cgroup's memory.events (v2) or memory.oom_control (v1), says so)`;
}

type OomCount = ReturnType<typeof oomKillCount>;

async function runChild(command: string, args: string[], d: Derivation, explainIt: boolean, limit: MemoryLimit): Promise<never> {
  const p = plan({ command, args, flags: d.flags, env: process.env, extraEnv: d.env, execPath: process.execPath, pid1: process.pid === 1 });
  if (explainIt) process.stderr.write(explain(d, { delivery: p.delivery, notes: limit.notes, machine: limit.machine }));
  else for (const w of d.warnings) process.stderr.write(`headroom: warning: ${w}\n`);
  if (d.processes === 1 && isPackageManager(command)) {
    const name = basename(command);
    process.stderr.write(
      `headroom: note: ${name} is a Node process too: it gets the same heap flags (NODE_OPTIONS) as the app it starts, and its own memory comes on top of the app's budget; and a SIGTERM reaches ${name}, whose script shell may not pass it on, leaving the app running. Run the app's node command directly (headroom run -- node server.js), or give --processes 2\n`,
    );
  }
  if (process.pid === 1 && p.file === command) {
    process.stderr.write(
      'headroom: warning: running as PID 1 without tini or dumb-init on PATH: orphaned grandchildren cannot be reaped (docker run --init, or install tini)\n',
    );
  }
  // Installed before the child starts: a signal that arrives meanwhile is forwarded, not fatal.
  let forward: ((s: NodeJS.Signals) => void) | undefined;
  const pending: NodeJS.Signals[] = [];
  const early = (s: NodeJS.Signals): void => void (forward ? forward(s) : pending.push(s));
  const off = onSignals(early);
  // The cgroup's OOM kill count before the command runs: a SIGKILL is the OOM killer's when it went up.
  const oomBefore = oomKillCount(limit);
  /** exit 127/126/2 with what went wrong, for a command that could not start. */
  const cannotStart = (err: unknown): never => {
    const e = err as NodeJS.ErrnoException;
    off();
    const why = whyNotStarted(e, command);
    if (why) fail(`cannot run "${command}": ${why}`, e.code === 'ENOENT' ? 127 : 126);
    throw err;
  };
  let running: ReturnType<typeof start>;
  try {
    running = start(p, {
      interactive: process.stdin.isTTY === true,
      onSignals: (h) => {
        forward = h;
        for (const s of pending.splice(0)) h(s);
        return off;
      },
    });
  } catch (err) {
    return cannotStart(err); // spawn throws some errors (E2BIG) rather than emitting them
  }
  // SIGUSR1 is Node's signal to open the inspector: without a listener it would open the runner's
  // own. A node command gets it (its inspector opens, as without headroom run); another command is
  // left alone, since SIGUSR1 ends most programs.
  const nodeChild = isNodeCommand(command, process.execPath);
  const onUsr1 = (): void => {
    if (!nodeChild) process.stderr.write('headroom: SIGUSR1 not forwarded: the command is not node (SIGUSR1 would end it)\n');
    else if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGUSR1');
  };
  process.on('SIGUSR1', onUsr1);
  try {
    const end = await running.ended;
    process.off('SIGUSR1', onUsr1);
    if (end.signal === 'SIGKILL' && d.limit !== null)
      process.stderr.write(`headroom: ${sigkillCause(d, oomBefore, oomKillCount(limit))}\n`);
    return exitLikeChild(end);
  } catch (err) {
    process.off('SIGUSR1', onUsr1);
    return cannotStart(err);
  }
}

export async function run(argv: string[], usageText: string): Promise<void> {
  const a = parseRunArgs(argv, 'run');
  if (a.help) {
    process.stdout.write(usageText);
    return;
  }
  const nodeArgv = isNodeCommand(a.command!, process.execPath) ? a.args : undefined;
  const { derivation, limit } = computeFor(a, true, nodeArgv);
  // V8 writes the snapshot at the limit, where a missing directory only shows as a lost snapshot.
  if (derivation.snapshot.enabled && a.heapSnapshotDir !== undefined) {
    const problem = dirProblem(a.heapSnapshotDir);
    if (problem) fail(`--heap-snapshot-dir ${a.heapSnapshotDir}: ${problem}`, 2);
  }
  await runChild(a.command!, a.args, derivation, a.explain, limit);
}

export function flags(argv: string[], usageText: string): void {
  const a = parseRunArgs(argv, 'flags');
  if (a.help) {
    process.stdout.write(usageText);
    return;
  }
  // Printed for NODE_OPTIONS or a Dockerfile: Node itself is the process, no runner beside it.
  const { derivation, limit } = computeFor(a, false, undefined);
  if (a.explain)
    process.stderr.write(
      explain(derivation, { delivery: 'printed (for NODE_OPTIONS or node …)', notes: limit.notes, machine: limit.machine }),
    );
  else for (const w of derivation.warnings) process.stderr.write(`headroom: warning: ${w}\n`);
  process.stdout.write(`${derivation.flags.join(' ')}\n`);
}

const OFF = /^(0|off|false|no)$/i;
const ON = /^(1|on|true|yes|)$/i;

/** The smallest limit, in MiB, whose derivation leaves an old space of MIN_OLD_SPACE (at most 1 GiB is tried). */
function smallestLimit(from: Derivation, deriveFor: (memory: number) => Derived): number {
  let mib = Math.ceil(from.limit! / MiB);
  while (mib < 1024 && (deriveFor(mib * MiB).derivation.oldSpaceMiB ?? 0) < MIN_OLD_SPACE / MiB) mib++;
  return mib;
}

/**
 * `headroom serve` sizes itself: with no heap flag given (NODE_OPTIONS or node's own flags) and a
 * memory limit found (or HEADROOM_MEMORY), the gateway runs again as a child of this process with
 * the derived flags — a heap limit must be set when V8 starts. HEADROOM_RUN=off opts out.
 * Resolves false when the gateway should start in this process.
 */
export async function serveUnderRun(): Promise<boolean> {
  const setting = process.env.HEADROOM_RUN ?? '';
  if (OFF.test(setting)) return false;
  if (!ON.test(setting)) fail(`HEADROOM_RUN=${setting}: must be on or off (1/0, true/false, yes/no)`, 2);
  // A debugging session (--inspect…) keeps its one process: a child would fight over the port.
  if (process.execArgv.some((a) => a.startsWith('--inspect'))) return false;
  const given = givenFlags(process.env, process.execArgv, true);
  if (given.some((g) => (g.name === 'max-old-space-size' || g.name === 'max-heap-size') && !ignoredByNode(g))) return false;
  let memory: number | undefined;
  if (process.env.HEADROOM_MEMORY !== undefined && process.env.HEADROOM_MEMORY !== '') {
    memory = memoryLimitOrFail('HEADROOM_MEMORY', process.env.HEADROOM_MEMORY);
  }
  const { derivation, limit } = computeFor(
    { memory, explain: false, help: false, args: [] },
    true,
    process.execArgv,
    true,
    'HEADROOM_MEMORY',
  );
  if (derivation.budget === null || derivation.flags.length === 0) return false;
  const old = derivation.oldSpaceMiB;
  if (old !== null && old < MIN_OLD_SPACE / MiB) {
    // Where an application may start small and be warned, the gateway cannot do its work in such a
    // heap (below ~15 MiB it does not even start): refused, naming the smallest limit that serves.
    const enough = smallestLimit(derivation, (m) =>
      computeFor({ memory: m, explain: false, help: false, args: [] }, true, process.execArgv, true),
    );
    fail(
      `memory limit ${Math.round(derivation.limit! / MiB)} MiB (${derivation.limitSource}) leaves the gateway an old space of ${old} MiB; ` +
        `it needs at least ${MIN_OLD_SPACE / MiB} MiB, which a limit of ${enough} MiB or more gives` +
        ` (or HEADROOM_RUN=off: start unsized, with Node's default heap)`,
      2,
    );
  }
  process.stderr.write(
    `headroom: memory limit ${Math.round(derivation.limit! / 2 ** 20)} MiB (${derivation.limitSource}): serving with ${derivation.flags.join(' ')} (HEADROOM_RUN=off to opt out; headroom flags --explain for why)\n`,
  );
  const script = process.argv[1]!;
  await runChild(process.execPath, [...process.execArgv, script, ...process.argv.slice(2)], derivation, false, limit);
  return true;
}
