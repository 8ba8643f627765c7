// Starts and stops the fixture apps of the conformance suite as child processes, per the contract
// in test/fixtures/apps/README.md: env in, one `HEADROOM_FIXTURE_LISTENING <url>` line out,
// SIGTERM to stop. Stderr (and stdout) are kept so a failing scenario can say what the app said.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const APPS_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../fixtures/apps');

export interface Fixture {
  name: string;
  /** argv; the first element is the program ("node" is this test's own node binary). */
  command: string[];
  /** Relative to the fixture folder. */
  cwd: string;
  /** Optional, run once before the fixture's scenarios (e.g. `next build`); `build` is the older name. */
  prepare?: string[];
  build?: string[];
  /** Scenarios the framework makes impossible, by number, with the reason (reported as skipped with it). */
  notApplicable?: Record<string, string>;
  /** The framework re-serialises request query strings (Next.js): scenario 7 compares them decoded. */
  queryNormalised?: boolean;
  /** ms to wait for the LISTENING line (default 30 s). */
  startTimeout?: number;
  dir: string;
}

/** Every test/fixtures/apps/<name>/fixture.json, or only those named in HEADROOM_FIXTURES (comma-separated). */
export function fixtures(): Fixture[] {
  const only = process.env.HEADROOM_FIXTURES?.split(',').filter(Boolean);
  return readdirSync(APPS_DIR)
    .filter((name) => existsSync(join(APPS_DIR, name, 'fixture.json')))
    .sort()
    .map((name) => {
      const dir = join(APPS_DIR, name);
      const f = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as Omit<Fixture, 'dir'>;
      return { ...f, cwd: f.cwd ?? '.', dir };
    })
    .filter((f) => !only || only.includes(f.name));
}

const program = (p: string): string => (p === 'node' ? process.execPath : p);

/** Runs the fixture's build step, if it has one; throws with its output when it fails. */
export function buildFixture(f: Fixture): void {
  const step = f.prepare ?? f.build;
  if (!step) return;
  const [cmd, ...args] = step;
  const r = spawnSync(program(cmd!), args, { cwd: resolve(f.dir, f.cwd), encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`fixture ${f.name}: build ${step.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

export interface RunningApp {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last 8 KiB of what the app wrote, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Prepended to NODE_OPTIONS, e.g. ['--max-old-space-size=128']. */
  nodeOptions?: string[];
}

export async function startFixture(f: Fixture, options: StartOptions = {}): Promise<RunningApp> {
  const [cmd, ...args] = f.command;
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1' };
  // The test runner's own settings must not leak into the app (node --test sets these).
  delete env.NODE_TEST_CONTEXT;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  env.NODE_OPTIONS = [...(options.nodeOptions ?? []), process.env.NODE_OPTIONS ?? ''].join(' ').trim();
  const child = spawn(program(cmd!), args, { cwd: resolve(f.dir, f.cwd), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: string): void => {
    out = (out + d).slice(-8192);
  };
  child.stderr!.setEncoding('utf8').on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  const output = (): string => out;
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const timeout = f.startTimeout ?? 30_000;
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(`no HEADROOM_FIXTURE_LISTENING line within ${timeout} ms`), timeout);
    function fail(why: string): void {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`fixture ${f.name} did not start: ${why}\n--- its output ---\n${out}`));
    }
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      keep(d);
      buffered += d;
      const m = /HEADROOM_FIXTURE_LISTENING (http:\/\/\S+)/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        buffered = '';
        resolveUrl(m[1]!);
      }
    });
    child.once('error', (err) => fail(err.message));
    void exited.then(({ code, signal }) => fail(`it exited (code ${code}, signal ${signal})`));
  });
  return { url, child, exited, output, stop };
}
