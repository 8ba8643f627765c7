// Container memory limit and usage from cgroup v2 (memory.max / memory.current) or v1
// (memory.limit_in_bytes / memory.usage_in_bytes). Read synchronously: tiny pseudo-files, read once
// at start-up (limit) or only when a heap snapshot is requested (usage).
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Where to look; overridable so tests can point at a fake tree. */
export interface CgroupPaths {
  root: string;
  procSelfCgroup: string;
}
const DEFAULT_PATHS: CgroupPaths = { root: '/sys/fs/cgroup', procSelfCgroup: '/proc/self/cgroup' };

function readNumber(path: string): number | undefined {
  try {
    const s = readFileSync(path, 'utf8').trim();
    if (!/^\d+$/.test(s)) return undefined; // "max" = no limit
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Directories to look in: the process's own cgroup (v2 unified line of /proc/self/cgroup) first, then the mount root. */
function v2Dirs(p: CgroupPaths): string[] {
  const dirs: string[] = [];
  try {
    const line = readFileSync(p.procSelfCgroup, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    const rel = line?.slice(3).trim();
    if (rel && rel !== '/' && !rel.includes('..')) dirs.push(p.root + rel);
  } catch {
    // not Linux
  }
  dirs.push(p.root);
  return dirs;
}

/** The cgroup memory limit in bytes, or null when none is set (or it is absurd: above physical memory). */
export function cgroupMemoryLimit(p: CgroupPaths = DEFAULT_PATHS): number | null {
  const candidates = [...v2Dirs(p).map((d) => `${d}/memory.max`), `${p.root}/memory/memory.limit_in_bytes`];
  for (const path of candidates) {
    const n = readNumber(path);
    // v1 reports "no limit" as ~2^63 rounded to a page; anything above physical memory cannot bind.
    if (n !== undefined && n > 0) return n < os.totalmem() ? n : null;
  }
  return null;
}

/** Bytes still available: the smaller of os.freemem() and cgroup limit − usage (when limited). */
export function availableMemory(p: CgroupPaths = DEFAULT_PATHS): number {
  let free = os.freemem();
  const limit = cgroupMemoryLimit(p);
  if (limit !== null) {
    const usage =
      v2Dirs(p)
        .map((d) => readNumber(`${d}/memory.current`))
        .find((n) => n !== undefined) ?? readNumber(`${p.root}/memory/memory.usage_in_bytes`);
    if (usage !== undefined) free = Math.min(free, Math.max(0, limit - usage));
  }
  return free;
}
