// Runs the CLI from source in a child process, for the CLI tests.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { dieWithFile, killGroup } from '../helpers/children.js';

export { portClosed } from '../helpers/net.js';

export const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CliChild {
  child: ChildProcess;
  /** Everything written to the piped streams so far. */
  output(): string;
  exited: Promise<Exit>;
  /** Resolves when the output matches; rejects if the process exits first. */
  waitForOutput(re: RegExp): Promise<RegExpExecArray>;
  /** SIGKILLs the process if it is still running (and its process group, when started with `group`). */
  kill(): void;
}

export function spawnWatched(
  command: string,
  args: string[],
  /**
   * group: the child leads its own process group, which is killed with it and when this test file's
   * process is terminated (for npm and the processes it starts: see ../helpers/children.ts).
   */
  options: { env?: Record<string, string>; cwd?: string; stdio?: StdioOptions; group?: boolean } = {},
): CliChild {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  if (options.group) dieWithFile(child);
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const onData = (c: Buffer): void => {
    text += c.toString('utf8');
    for (const w of [...waiters]) {
      const m = w.re.exec(text);
      if (!m) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as Exit);
  return {
    child,
    output: () => text,
    exited,
    waitForOutput: (re) =>
      Promise.race([
        new Promise<RegExpExecArray>((resolve) => waiters.push({ re, resolve })),
        exited.then((e) => Promise.reject(new Error(`exited (${e.code ?? e.signal}) before ${re}:\n${text}`))),
      ]),
    kill: () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (options.group && child.pid !== undefined) killGroup(child.pid);
      else child.kill('SIGKILL');
    },
  };
}

export const startCli = (args: string[], options: { env?: Record<string, string>; stdio?: StdioOptions } = {}): CliChild =>
  spawnWatched(process.execPath, [...CLI, ...args], options);

/** Runs the CLI to its end. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = spawnWatched(process.execPath, [...CLI, ...args], { env });
  let stdout = '';
  let stderr = '';
  c.child.stdout!.on('data', (b: Buffer) => (stdout += b));
  c.child.stderr!.on('data', (b: Buffer) => (stderr += b));
  // 'exit' can come before the last output has been read: 'close' comes after both streams ended.
  const [{ code }] = await Promise.all([c.exited, once(c.child, 'close')]);
  return { code, stdout, stderr };
}

/** Resolves with how the process ended, or rejects after `ms` (the process is left to the caller). */
export function exitWithin(c: CliChild, ms: number, what: string): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  return Promise.race([c.exited, timeout]).finally(() => clearTimeout(timer));
}
