// The memory limit this process really has, read from the cgroup file system: cgroup v2
// `memory.max` and `memory.high`, cgroup v1 `memory.limit_in_bytes`, at the process's own (nested)
// cgroup named by /proc/self/cgroup and every ancestor up to the mount (a parent's limit binds its
// children too). Every path hangs off `root` so tests can point the reader at a fixture tree.
// Used by the monitor (its RSS limit and free memory, cgroup.ts) and by `headroom run`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface LimitReaderOptions {
  /** The file-system root the cgroup mounts and /proc hang off; '/' on a real machine. */
  root?: string;
}

export interface MemoryLimit {
  /** The limit in bytes, or null when nothing below the machine's memory binds. */
  bytes: number | null;
  /** Where the limit came from: the file path and its kind, or why there is none. */
  source: string;
  /** The machine's memory (MemTotal of /proc/meminfo), when readable. */
  machine: number | null;
  /** What else was seen: a memory.high below memory.max, limits above the machine's memory, … */
  notes: string[];
  /**
   * The usage file of the cgroup whose limit binds (v2 memory.current, v1 memory.usage_in_bytes),
   * or null without a limit. For a v1 hierarchical_memory_limit set above the visible mount, the
   * process's own cgroup: the ancestor's usage cannot be read.
   */
  usage: string | null;
}

// cgroup v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages);
// anything at or above 2^62 is that marker, whatever the page size.
const V1_UNLIMITED = 2 ** 62;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A limit file's value: bytes, or null for "max" / the v1 unlimited marker, or undefined if absent or garbled. */
export function parseLimitValue(text: string | undefined): number | null | undefined {
  const s = text?.trim();
  if (s === undefined || s === '') return undefined;
  if (s === 'max') return null;
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= V1_UNLIMITED || !Number.isSafeInteger(n) ? null : n;
}

interface CgroupLine {
  controllers: string[];
  path: string;
}

/** The lines of /proc/self/cgroup: "hierarchy-id:controller,list:/path" (v2: "0::/path"). */
export function parseProcCgroup(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m) out.push({ controllers: m[2] === '' ? [] : m[2]!.split(','), path: m[3]! });
  }
  return out;
}

/**
 * The directories from the process's own cgroup up to the mount point, deepest first. Inside a
 * container with its own cgroup namespace /proc/self/cgroup may name a host path that the mount
 * does not show: then the mount point itself is the process's cgroup.
 */
function chain(mount: string, rel: string | undefined): string[] {
  const parts = (rel ?? '/').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return [mount];
  while (parts.length > 0 && !existsSync(join(mount, ...parts))) parts.shift();
  const dirs: string[] = [];
  for (let n = parts.length; n >= 0; n--) dirs.push(join(mount, ...parts.slice(0, n)));
  return dirs;
}

interface Found {
  bytes: number;
  path: string;
  kind: string;
  usage: string;
}

function lowest(dirs: string[], file: string, kind: string, usageFile: string): Found | undefined {
  let best: Found | undefined;
  for (const dir of dirs) {
    const path = join(dir, file);
    const v = parseLimitValue(read(path));
    if (typeof v === 'number' && (!best || v < best.bytes)) best = { bytes: v, path, kind, usage: join(dir, usageFile) };
  }
  return best;
}

function machineMemory(root: string): number | null {
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(read(join(root, 'proc/meminfo')) ?? '');
  return m ? Number(m[1]) * 1024 : null;
}

/** Reads the memory limit of the calling process (cgroup v2, v1, or a hybrid of both). */
export function readMemoryLimit(options: LimitReaderOptions = {}): MemoryLimit {
  const root = options.root ?? '/';
  const machine = machineMemory(root);
  const lines = parseProcCgroup(read(join(root, 'proc/self/cgroup')) ?? '');
  const cgroupFs = join(root, 'sys/fs/cgroup');
  const notes: string[] = [];
  const found: Found[] = [];

  // cgroup v2: the unified hierarchy at /sys/fs/cgroup, or at /sys/fs/cgroup/unified on hybrid systems.
  const v2Line = lines.find((l) => l.controllers.length === 0);
  for (const mount of [cgroupFs, join(cgroupFs, 'unified')]) {
    if (!existsSync(join(mount, 'cgroup.controllers'))) continue;
    const dirs = chain(mount, v2Line?.path);
    const max = lowest(dirs, 'memory.max', 'cgroup v2 memory.max', 'memory.current');
    const high = lowest(dirs, 'memory.high', 'cgroup v2 memory.high (reclaim and throttling start there)', 'memory.current');
    if (max) found.push(max);
    if (high) {
      found.push(high);
      if (max && high.bytes < max.bytes) notes.push(`memory.high (${high.bytes} bytes) is below memory.max: sized for memory.high`);
    }
    break;
  }
  // cgroup v1: the memory controller's own hierarchy.
  const v1Line = lines.find((l) => l.controllers.includes('memory'));
  const v1Mount = join(cgroupFs, 'memory');
  if (existsSync(join(v1Mount, 'memory.limit_in_bytes'))) {
    const dirs = chain(v1Mount, v1Line?.path);
    const limit = lowest(dirs, 'memory.limit_in_bytes', 'cgroup v1 memory.limit_in_bytes', 'memory.usage_in_bytes');
    if (limit) found.push(limit);
    // The kernel's own answer for the whole hierarchy, also when an ancestor is not mounted here.
    const m = /^hierarchical_memory_limit\s+(\d+)$/m.exec(read(join(dirs[0]!, 'memory.stat')) ?? '');
    const h = parseLimitValue(m?.[1]);
    // Equal to the level's own limit it is that limit again (noted once when it does not bind).
    if (typeof h === 'number' && h !== limit?.bytes)
      found.push({
        bytes: h,
        path: join(dirs[0]!, 'memory.stat'),
        kind: 'cgroup v1 hierarchical_memory_limit',
        usage: join(dirs[0]!, 'memory.usage_in_bytes'),
      });
  }

  let best: Found | undefined;
  for (const f of found) {
    if (machine !== null && f.bytes >= machine) {
      notes.push(`${f.path} (${f.bytes} bytes) is not below the machine's memory (${machine} bytes): it does not bind`);
      continue;
    }
    if (!best || f.bytes < best.bytes) best = f;
  }
  if (!best) {
    const seen = found.length > 0 || lines.length > 0 ? "no cgroup memory limit below the machine's memory" : 'no cgroup file system';
    return { bytes: null, source: seen, machine, notes, usage: null };
  }
  return { bytes: best.bytes, source: `${best.path} (${best.kind})`, machine, notes, usage: best.usage };
}

/**
 * How many processes the kernel's OOM killer has killed in the cgroup whose limit binds, and the file
 * that says so (v2 memory.events, v1 memory.oom_control: `oom_kill N`, Linux 4.13+); undefined
 * without a limit or where the count cannot be read.
 */
export function oomKillCount(limit: Pick<MemoryLimit, 'usage'>): { file: string; count: number } | undefined {
  if (limit.usage === null) return undefined;
  const dir = dirname(limit.usage);
  for (const name of ['memory.events', 'memory.oom_control']) {
    const m = /^oom_kill (\d+)$/m.exec(read(join(dir, name)) ?? '');
    if (m) return { file: join(dir, name), count: Number(m[1]) };
  }
  return undefined;
}
