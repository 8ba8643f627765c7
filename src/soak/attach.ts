// --attach: find the inspector of a process that is already running. By port: its /json/list.
// By pid: SIGUSR1 turns Node's inspector on at 127.0.0.1:9229 (Node's default), then /json/list
// there; the pid the inspector reports is checked, since another process may hold port 9229. The
// signal is sent only to a Node process: any other is ended by it.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { identifyProcess } from './proc.js';

export type AttachTarget = { port: number } | { pid: number };

export class SoakAttachError extends Error {
  override name = 'SoakAttachError';
}

/** Node's inspector port when SIGUSR1 turns it on without an --inspect-port. */
export const SIGUSR1_PORT = 9229;

/** Parses "9229", "port:9229" or "pid:4242". */
export function parseAttach(value: string): AttachTarget | undefined {
  const m = /^(?:(port|pid):)?(\d{1,10})$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[2]);
  if (m[1] === 'pid') return n >= 1 && n <= 4_194_304 ? { pid: n } : undefined;
  return n >= 1 && n <= 65_535 ? { port: n } : undefined;
}

async function listTargets(port: number): Promise<string | undefined> {
  const res = await request(`http://127.0.0.1:${port}/json/list`, { headersTimeout: 2000, bodyTimeout: 2000 });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new SoakAttachError(`--attach: 127.0.0.1:${port}/json/list answered ${res.statusCode}: not a Node inspector`);
  }
  const text = await res.body.text();
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new SoakAttachError(`--attach: 127.0.0.1:${port}/json/list did not answer JSON: not a Node inspector`);
  }
  const first = Array.isArray(list)
    ? (list as { webSocketDebuggerUrl?: unknown }[]).find((t) => typeof t?.webSocketDebuggerUrl === 'string')
    : undefined;
  return first?.webSocketDebuggerUrl as string | undefined;
}

/**
 * SIGUSR1 ends a process that has no handler for it (`sleep`, a shell, a Go binary …): only a Node
 * process opens its inspector on it. Throws, naming what the process is, unless it is Node and
 * (where /proc tells) handles SIGUSR1.
 */
async function refuseNonNode(pid: number): Promise<void> {
  const p = await identifyProcess(pid);
  const what = p.exe === undefined ? 'a process that could not be identified' : p.exe;
  const instead = 'Give pid:PID of a Node process, or start the service with --inspect=127.0.0.1:PORT and attach to PORT';
  if (!p.node)
    throw new SoakAttachError(
      `--attach pid:${pid}: that process is ${what}, not Node.js; SIGUSR1 would stop it, so it was not sent. ${instead}`,
    );
  if (p.catchesSigusr1 === false)
    throw new SoakAttachError(
      `--attach pid:${pid}: that process is Node.js (${what}) but has no SIGUSR1 handler (started with --disable-sigusr1?); SIGUSR1 would stop it, so it was not sent. Start it with --inspect=127.0.0.1:PORT and attach to PORT`,
    );
}

/** The inspector WebSocket URL of the target; throws SoakAttachError saying what went wrong. */
export async function findInspector(target: AttachTarget, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  let port: number;
  if ('pid' in target) {
    try {
      process.kill(target.pid, 0); // exists, and ours to signal: checked without sending anything
      await refuseNonNode(target.pid);
      process.kill(target.pid, 'SIGUSR1');
    } catch (err) {
      if (err instanceof SoakAttachError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new SoakAttachError(
        code === 'ESRCH'
          ? `--attach pid:${target.pid}: no such process`
          : code === 'EPERM'
            ? `--attach pid:${target.pid}: not allowed to signal that process (another user's?)`
            : `--attach pid:${target.pid}: ${(err as Error).message}`,
      );
    }
    port = SIGUSR1_PORT;
  } else port = target.port;
  const what = 'pid' in target ? `pid ${target.pid} (SIGUSR1 sent; its inspector should open on 127.0.0.1:${port})` : `127.0.0.1:${port}`;
  const deadline = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (signal?.aborted) throw new SoakAttachError('stopped before the inspector was found');
    try {
      const url = await listTargets(port);
      if (url) return url;
      last = 'its /json/list names no target';
    } catch (err) {
      if (err instanceof SoakAttachError) throw err;
      last = (err as { code?: string }).code === 'ECONNREFUSED' ? 'nothing listens there' : (err as Error).message;
    }
    if (performance.now() > deadline)
      throw new SoakAttachError(
        `--attach: no Node inspector at ${what} within ${timeoutMs} ms (${last}). Start the service with --inspect=127.0.0.1:PORT and attach to PORT, or give pid:PID of a Node process`,
      );
    await sleep(100);
  }
}
