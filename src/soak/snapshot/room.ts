// Whether the machine has room for the heap snapshots: taking one makes the target allocate several
// times its heap outside it (monitor/snapshot-cost.ts), and the files need disk space of about twice
// the heap's size each. Checked against free memory (the container limit minus its usage when there is
// one) and the free space of the directory the files go to.
import { statfsSync } from 'node:fs';
import { availableMemory } from '../../monitor/cgroup.js';
import { SNAPSHOT_MEMORY_FACTOR } from '../../monitor/snapshot-cost.js';

export interface RoomInput {
  /** The target's post-GC heap, bytes. */
  heapBytes: number;
  snapshots: number;
  /** Free memory, bytes (default: os.freemem(), bounded by the cgroup limit − usage). */
  freeMemory: number;
  /** Free disk space where the files go, bytes. */
  freeDisk: number;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(0)} MiB`;

/** Undefined when there is room; otherwise the reason to skip, saying what was needed and what was free. */
export function noRoom(r: RoomInput): string | undefined {
  const memory = SNAPSHOT_MEMORY_FACTOR * r.heapBytes;
  if (r.freeMemory < memory)
    return `not enough free memory for a heap snapshot: ${mib(r.freeMemory)} free, about ${mib(memory)} needed (${SNAPSHOT_MEMORY_FACTOR}× the target's ${mib(r.heapBytes)} heap: V8 builds the snapshot's graph outside the heap)`;
  const disk = 2 * r.heapBytes * r.snapshots;
  if (r.freeDisk < disk)
    return `not enough disk space for ${r.snapshots} heap snapshots: ${mib(r.freeDisk)} free, about ${mib(disk)} needed`;
  return undefined;
}

export function machineRoom(dir: string): { freeMemory: number; freeDisk: number } {
  const s = statfsSync(dir);
  return { freeMemory: availableMemory(), freeDisk: s.bavail * s.bsize };
}
