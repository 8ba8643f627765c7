// What /proc says about the target: resident memory and open file descriptors (Linux only;
// elsewhere the fields are undefined and the report says so).
import { readFile, readdir } from 'node:fs/promises';

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
