// What /proc says about the target: resident memory and open file descriptors (Linux only;
// elsewhere the fields are undefined and the report says so); and what a process runs, before
// --attach pid:PID signals it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename } from 'node:path';

const osSignals = constants.signals;

export interface ProcReading {
  rss?: number;
  fds?: number;
  threads?: number;
}

export async function readProc(pid: number): Promise<ProcReading> {
  const out: ProcReading = {};
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    const threads = /^Threads:\s+(\d+)/m.exec(status);
    if (rss) out.rss = Number(rss[1]) * 1024;
    if (threads) out.threads = Number(threads[1]);
  } catch {
    // not Linux, or the process is gone
  }
  try {
    out.fds = (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    // idem, or not ours to read
  }
  return out;
}

export interface ProcessIdentity {
  /** What the process runs: the executable's path, else its argv[0] or command name; undefined when unknown. */
  exe?: string;
  /** Whether it is Node.js (its executable is node, nodejs, node20 …, or this process's own). */
  node: boolean;
  /** Whether it has a SIGUSR1 handler (Linux only; undefined when unknown). Without one SIGUSR1 ends it. */
  catchesSigusr1?: boolean;
}

const NODE_EXE = /^(node|nodejs)(\d[\d.]*)?(\.exe)?$/;
/** SIGUSR1's bit in /proc/PID/status's signal masks (bit n − 1 for signal n; 10 on Linux: in the mask's low 32 bits). */
const SIGUSR1_BIT = 1 << (osSignals.SIGUSR1 - 1);

/** What process `pid` runs, from /proc (Linux) or `ps` (elsewhere): read before signalling it. */
export async function identifyProcess(pid: number): Promise<ProcessIdentity> {
  let exe: string | undefined;
  let catchesSigusr1: boolean | undefined;
  if (existsSync('/proc/self/exe')) {
    // The executable's link is readable only for our own user's processes; argv[0] and the command name for all.
    exe = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
    exe ??= (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] || undefined;
    exe ??= (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() || undefined;
    const caught = /^SigCgt:\s+([0-9a-f]+)$/im.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
    if (caught) catchesSigusr1 = (parseInt(caught[1]!.slice(-8), 16) & SIGUSR1_BIT) !== 0;
  } else {
    exe = await new Promise<string | undefined>((resolve) =>
      execFile('ps', ['-o', 'comm=', '-p', String(pid)], (err, out) => resolve(err ? undefined : out.trim() || undefined)),
    );
  }
  const node = exe !== undefined && (exe === process.execPath || NODE_EXE.test(basename(exe.replace(/ \(deleted\)$/, ''))));
  return { exe, node, ...(catchesSigusr1 === undefined ? {} : { catchesSigusr1 }) };
}
