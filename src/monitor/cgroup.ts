// Container memory limit and usage, from the cgroup reader that `headroom run` uses too (limit.ts:
// v2 memory.max / memory.high and v1 memory.limit_in_bytes at the process's own nested cgroup and
// every ancestor). Read synchronously: tiny pseudo-files, read once at start-up (limit) or only
// when a heap snapshot is requested (usage).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseLimitValue, readMemoryLimit, type LimitReaderOptions } from './limit.js';

/** The cgroup memory limit in bytes, or null when none is set (or it is absurd: not below physical memory). */
export function cgroupMemoryLimit(options: LimitReaderOptions = {}): number | null {
  return readMemoryLimit(options).bytes;
}

/**
 * Bytes still available: the smaller of os.freemem() and, when limited, the binding cgroup's
 * limit minus its usage.
 */
export function availableMemory(options: LimitReaderOptions = {}): number {
  const free = os.freemem();
  const limit = readMemoryLimit(options);
  if (limit.bytes === null || limit.usage === null) return free;
  let text: string | undefined;
  try {
    text = readFileSync(limit.usage, 'utf8');
  } catch {
    return free;
  }
  const usage = parseLimitValue(text);
  return typeof usage === 'number' ? Math.min(free, Math.max(0, limit.bytes - usage)) : free;
}
