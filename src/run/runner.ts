// Runs a command as a child with the derived flags: forwards signals, reports how it ended.
// Flags reach a `node …` command on its command line (visible in ps, not inherited by the Node
// processes it starts); any other command (npm, next, a bin script) gets them in NODE_OPTIONS,
// the one place every Node process it starts reads — hence --processes when there are several.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { quoteNodeOption } from './node-flags.js';

/** Signals passed on to the command. SIGUSR1 is not: it starts Node's inspector in the runner. */
export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const;
/** Sent by a terminal to its whole foreground process group: the command has it already. */
const TTY_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT']);

/**
 * Why `command` could not be started, in words (spawn's error), or undefined for an error that is
 * not about starting it: not found (or the interpreter its #! line names), not executable, too large.
 */
export function whyNotStarted(err: NodeJS.ErrnoException, command: string): string | undefined {
  if (err.code === 'ENOENT')
    return command.includes('/') && existsSync(command)
      ? 'the file exists, but the interpreter its #! line names was not found'
      : 'not found';
  if (err.code === 'EACCES')
    return command.includes('/') && isDirectory(command) ? 'it is a directory, not a program' : 'permission denied (is it executable?)';
  if (err.code === 'E2BIG') return 'its arguments and environment are larger than the system allows (E2BIG)';
  return undefined;
}

export interface Plan {
  file: string;
  args: string[];
  env: Record<string, string | undefined>;
  /** How the flags reach the command. */
  delivery: string;
}

/** Whether `command` is Node itself (so flags can go on its command line). */
export function isNodeCommand(command: string, execPath: string): boolean {
  return command === execPath || /^(node|nodejs)(\.exe)?$/.test(basename(command));
}

/** A package manager's command (npm start, yarn dev …): itself a Node process that starts the app's. */
export function isPackageManager(command: string): boolean {
  return /^(npm|npx|yarn|pnpm|pnpx)(\.cmd|\.exe)?$/.test(basename(command));
}

/** Finds `name` on PATH (a path with a slash is taken as it is). */
export function which(name: string, path: string | undefined): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export interface PlanInput {
  command: string;
  args: string[];
  flags: string[];
  env: Record<string, string | undefined>;
  /** Added to the command's environment unless already set there. */
  extraEnv?: Record<string, string>;
  execPath: string;
  /** PID 1 (a container's init): start the command under tini/dumb-init when found, which reap orphans. */
  pid1?: boolean;
}

export function plan(input: PlanInput): Plan {
  const env = { ...input.env };
  for (const [k, v] of Object.entries(input.extraEnv ?? {})) if (env[k] === undefined) env[k] = v;
  let file = input.command;
  let args = input.args;
  let delivery: string;
  if (input.flags.length === 0) delivery = 'none (no flags to add)';
  else if (isNodeCommand(input.command, input.execPath)) {
    args = [...input.flags, ...args];
    delivery = 'command line of node';
  } else {
    env.NODE_OPTIONS = [env.NODE_OPTIONS, ...input.flags.map(quoteNodeOption)].filter(Boolean).join(' ');
    delivery = 'NODE_OPTIONS (the command is not node)';
  }
  if (input.pid1) {
    // Node cannot wait() for processes it did not start, so as PID 1 it would leave orphaned
    // grandchildren as zombies; tini -s (subreaper) or dumb-init reaps them.
    const tini = which('tini', env.PATH);
    const dumbInit = tini ? undefined : which('dumb-init', env.PATH);
    if (tini) [file, args] = [tini, ['-s', '--', file, ...args]];
    else if (dumbInit) [file, args] = [dumbInit, ['--single-child', file, ...args]];
  }
  return { file, args, env, delivery };
}

export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Running {
  child: ChildProcess;
  /** Resolves when the command has ended (rejects when it could not start). */
  ended: Promise<ChildEnd>;
}

export interface StartOptions {
  /** The terminal's signals reach the command already: do not send them twice. */
  interactive?: boolean;
  /** Subscribe to the runner's signals; returns the unsubscribe. */
  onSignals?: (handler: (s: NodeJS.Signals) => void) => () => void;
}

/** Starts the plan with inherited stdio, forwarding signals until the child ends. */
export function start(p: Plan, options: StartOptions = {}): Running {
  const child = spawn(p.file, p.args, { env: p.env, stdio: 'inherit' });
  const forward = (s: NodeJS.Signals): void => {
    if (options.interactive && TTY_SIGNALS.has(s)) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
  };
  const unsubscribe = options.onSignals?.(forward) ?? (() => {});
  const ended = new Promise<ChildEnd>((resolve, reject) => {
    child.once('error', (err) => {
      unsubscribe();
      reject(err);
    });
    child.once('exit', (code, signal) => {
      unsubscribe();
      resolve({ code, signal });
    });
  });
  return { child, ended };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
