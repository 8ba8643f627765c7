// Starts the service under test with its inspector on an ephemeral port, finds the inspector's
// WebSocket URL in its stderr, and waits until the service accepts connections.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { whyNotStarted } from '../run/runner.js';
import { connectInspector } from './inspector.js';

export class SoakStartError extends Error {
  override name = 'SoakStartError';
}

/**
 * The port chosen for the service was taken before the service listened: by its own inspector (on
 * a port the OS picks, which may be the very free port chosen — the port then still accepts
 * connections, so the service would look ready), or by another process (the service exits with
 * EADDRINUSE). Worth another start on another port.
 */
export class ServicePortTaken extends SoakStartError {
  override name = 'ServicePortTaken';
}

export interface ChildOptions {
  command: readonly string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Where the service will listen (to wait for); its port is also given in $PORT when `port` is set. */
  url: string;
  port?: number;
  startTimeoutMs: number;
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
}

export interface StartedChild {
  pid: number;
  /** The first inspector announced (the command's own process, when it is Node). */
  inspectorUrl: string;
  /** Every inspector announced so far: a wrapper (npm, a shell, tsx) passes --inspect on to the Node processes under it. */
  inspectorUrls(): readonly string[];
  /** The last few KiB of the child's output. */
  tail(): string;
  /** Set once the child has exited. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves when the child has exited. */
  readonly exited: Promise<void>;
  /**
   * Watches, from now on, for the child exiting or a process of its group beginning to: a Node
   * process that exits while our inspector is connected waits for it to disconnect ("Waiting for
   * the debugger to disconnect...") and answers nothing meanwhile, so a measurement must not wait
   * for it. Only what happens after the call counts (but an exit, at any time): under a wrapper, a
   * process the soak was attached to while looking for the service may have left before.
   */
  watchLeaving(): LeavingWatch;
  /** SIGTERM to the child's process group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface LeavingWatch {
  /** Resolves once the child exits, or a process of its group begins to, after the watch began. */
  readonly leaving: Promise<void>;
  /** True once `leaving` has resolved. */
  isLeaving(): boolean;
}

const INSPECT = '--inspect=127.0.0.1:0';
/** What Node prints when it exits while a debugger is connected (and only then). */
const WAITING = 'Waiting for the debugger to disconnect';

/** A start-up failure's message with the end of the service's output (which usually says why). */
export function withOutput(what: string, child: Pick<StartedChild, 'tail'>): string {
  const tail = child.tail().trim();
  return `${what}${tail ? `; its last output:\n${tail}` : ' (it printed nothing)'}`;
}
const TAIL_BYTES = 8192;

/** How long a service that began to exit gets to finish once our inspector has let go of it. */
export const EXIT_GRACE_MS = 5000;

/** Resolves when the child has exited or `ms` have passed. */
export async function exitedWithin(child: StartedChild, ms: number): Promise<void> {
  const ac = new AbortController();
  await Promise.race([child.exited, sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined)]);
  ac.abort();
}

/** Whether a service's output says it could not listen on `port` because another process has it. */
export const portInUse = (output: string, port: number): boolean => new RegExp(`EADDRINUSE\\b.*:${port}\\b`).test(output);

/** A free TCP port on 127.0.0.1 (closed again: the child binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const isNode = (cmd: string): boolean => cmd === process.execPath || /^(node|nodejs)(\.exe)?$/.test(basename(cmd));

/** The argv and env that turn the inspector on: a node command gets the flag; any other gets it in NODE_OPTIONS. */
export function withInspector(
  command: readonly string[],
  env: Record<string, string | undefined>,
): { argv: string[]; env: Record<string, string | undefined> } {
  const [cmd, ...args] = command;
  if (cmd !== undefined && isNode(cmd)) return { argv: [cmd, INSPECT, ...args], env };
  return { argv: [...command], env: { ...env, NODE_OPTIONS: [env.NODE_OPTIONS, INSPECT].filter(Boolean).join(' ') } };
}

function accepts(url: URL): Promise<boolean> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    // URL keeps an IPv6 host in brackets ("[::1]"), which net.connect would look up as a name.
    const socket = connect(port, url.hostname.replace(/^\[(.*)\]$/, '$1'));
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export async function startChild(options: ChildOptions): Promise<StartedChild> {
  if (options.command.length === 0) throw new TypeError('soak: no command to start');
  const baseEnv: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (options.port !== undefined) baseEnv.PORT = String(options.port);
  const { argv, env } = withInspector(options.command, baseEnv);
  // Its own process group, so a shell wrapper and the node process under it stop together.
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let tail = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let inspectorUrl: string | undefined;
  const inspectorUrls = new Set<string>();
  let stderrLine = '';
  /** Why the command could not be started at all (spawn's 'error': not found, not executable). */
  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => ((exit = { code, signal }), resolve()));
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      tail += `\n${err.message}`;
      exit ??= { code: null, signal: null };
      resolve();
    });
  });
  // Last resort, whatever ends this process (an uncaught error, process.exit): the service's group
  // does not outlive it. A normal stop() has already ended it and removed this.
  const killOnExit = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  if (child.pid !== undefined) process.once('exit', killOnExit);
  /** The open watches' ends, each called once. */
  const watches = new Set<() => void>();
  const markLeaving = (): void => {
    for (const end of watches) end();
    watches.clear();
  };
  void exited.then(markLeaving);
  const watchLeaving = (): LeavingWatch => {
    let now = false;
    let end!: () => void;
    const leaving = new Promise<void>((resolve) => (end = () => ((now = true), resolve())));
    if (exit) end();
    else watches.add(end);
    return { leaving, isLeaving: () => now };
  };
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // After an exit its last words may still be in the pipes: 'close' follows once they are read. A
  // grandchild holding the pipes could delay that for ever, so the wait is bounded.
  const outputRead = async (): Promise<void> => {
    const timer = new AbortController();
    await Promise.race([closed, sleep(500, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
  };
  const keep = (chunk: Buffer, stream: 'stdout' | 'stderr'): void => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    options.onOutput?.(chunk, stream);
  };
  child.stdout!.on('data', (c: Buffer) => keep(c, 'stdout'));
  child.stderr!.on('data', (c: Buffer) => {
    keep(c, 'stderr');
    // The end of stderr, for the inspector's lines (which a chunk boundary may split).
    stderrLine = (stderrLine + c.toString('utf8')).slice(-4096);
    for (const m of stderrLine.matchAll(/Debugger listening on (ws:\/\/\S+)\s/g)) inspectorUrls.add(m[1]!);
    inspectorUrl ??= inspectorUrls.values().next().value;
    // Each message once: what is before it and itself are dropped (the URLs there are taken above).
    const at = stderrLine.lastIndexOf(WAITING);
    if (at !== -1) {
      stderrLine = stderrLine.slice(at + WAITING.length);
      markLeaving();
    }
  });

  /** Whether any process of the child's group is left (a wrapper's service may outlive the wrapper). */
  const groupAlive = (): boolean => {
    if (child.pid === undefined) return false;
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      child.kill(sig);
    }
  };
  /** Polls until the group is empty or `ms` pass: no event says when a process we did not start ends. */
  const groupGone = async (ms: number): Promise<boolean> => {
    for (const until = performance.now() + ms; groupAlive(); await sleep(25)) if (performance.now() > until) return false;
    return true;
  };
  // The whole group, not just the command: `npm start` exits on SIGTERM while a service under it that
  // ignores SIGTERM lives on, holding our pipes (the soak would never exit) and its port.
  const stop = async (graceMs = 5000): Promise<void> => {
    if (child.pid !== undefined && groupAlive()) {
      kill('SIGTERM');
      if (!(await groupGone(graceMs))) {
        kill('SIGKILL');
        await groupGone(2000);
      }
    }
    await exited;
    await outputRead();
    process.off('exit', killOnExit);
    // A process that left the group (setsid) may still hold the pipes' other ends.
    child.stdout?.destroy();
    child.stderr?.destroy();
  };

  const started: StartedChild = {
    pid: child.pid ?? -1,
    get inspectorUrl() {
      return inspectorUrl!;
    },
    inspectorUrls: () => [...inspectorUrls],
    tail: () => tail,
    exit: () => exit,
    exited,
    watchLeaving,
    stop,
  };

  const deadline = performance.now() + options.startTimeoutMs;
  const target = new URL(options.url);
  const why = (what: string): string => withOutput(what, started);
  try {
    for (;;) {
      if (options.signal?.aborted) throw new SoakStartError('soak: stopped before the service was up');
      // Checked before the exit: the service usually dies of EADDRINUSE at once.
      if (inspectorUrl !== undefined && new URL(inspectorUrl).port === target.port && options.port !== undefined)
        throw new ServicePortTaken(`soak: the service's inspector took port ${target.port}, the one chosen for the service`);
      if (spawnError)
        throw new SoakStartError(
          `soak: the command could not be started: ${argv[0]}: ${whyNotStarted(spawnError, argv[0]!) ?? spawnError.message}`,
        );
      if (exit) {
        await outputRead();
        if (options.port !== undefined && portInUse(tail, options.port))
          throw new ServicePortTaken(
            why(`soak: another process took port ${options.port}, the one chosen for the service, before it listened`),
          );
        throw new SoakStartError(
          why(
            `soak: the service exited during start-up (${exit.signal ?? `code ${exit.code}`}) before ${inspectorUrl ? 'it accepted connections' : 'its inspector listened'}`,
          ),
        );
      }
      if (inspectorUrl !== undefined && (await accepts(target))) break;
      if (performance.now() > deadline)
        throw new SoakStartError(
          why(
            inspectorUrl === undefined
              ? `soak: no "Debugger listening on ws://…" line from the service within ${options.startTimeoutMs} ms (is it a Node process? was --inspect refused?)`
              : `soak: the service did not accept connections on ${target.host} within ${options.startTimeoutMs} ms${await listensElsewhere(inspectorUrl, target)}`,
          ),
        );
      await sleep(50);
    }
  } catch (err) {
    await stop(1000);
    throw err;
  }
  return started;
}

/**
 * The addresses a Node process's servers listen on, `{ address, family, port }` each: an expression
 * evaluated in it through the inspector (serving.ts's listensOn asks it too).
 */
export const LISTENING = `(() => {
  const out = [];
  for (const h of process._getActiveHandles()) {
    if (h && h.listening === true && typeof h.address === 'function') {
      const a = h.address();
      if (a && typeof a === 'object') out.push({ address: a.address, family: a.family, port: a.port });
    }
  }
  return out;
})()`;

/**
 * "; it listens on 0.0.0.0:3000 instead (…)" when the service listens, but not where the soak
 * looks (a fixed port, PORT ignored, ::1 only): asked through its inspector, in at most a second.
 */
async function listensElsewhere(inspectorUrl: string, target: URL): Promise<string> {
  try {
    const probe = await connectInspector(inspectorUrl, 1000, 1000);
    try {
      const found = (await probe.evaluate(LISTENING)) as { address: string; family: string; port: number }[] | undefined;
      if (!Array.isArray(found) || found.length === 0) return '';
      const shown = found.slice(0, 5).map((a) => (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`));
      return `; it listens on ${shown.join(', ')} instead: have it listen on $PORT (${target.port}), or give --url with its address`;
    } finally {
      await probe.close();
    }
  } catch {
    return '';
  }
}
