// Heap snapshots with guards. v8.writeHeapSnapshot() is used rather than piping
// v8.getHeapSnapshot() to a file: both take the snapshot synchronously on the main thread (V8
// cannot snapshot a heap from another thread), but getHeapSnapshot() then serialises the whole
// JSON in one synchronous call into the stream's buffer, so its peak memory holds the complete
// serialisation; writeHeapSnapshot() serialises straight into the file. Taking a snapshot needs
// native memory of several times the heap (snapshot-cost.ts), hence the free-memory guard: in a
// container, a snapshot without room gets the process killed by the kernel.
// A snapshot holds every string in the heap (admin and upstream tokens, request data): V8 writes
// the file 0600, and it only goes into a directory no other user can open (see privateDir()).
import { chmod, readdir, rm, stat, statfs } from 'node:fs/promises';
import { makeDir } from '../options/make-dir.js';
import { join, resolve } from 'node:path';
import v8 from 'node:v8';
import { HeadroomError } from '../errors.js';
import { SNAPSHOT_MEMORY_FACTOR } from './snapshot-cost.js';
import type { HeapSnapshotResult } from './types.js';

export interface SnapshotWriterOptions {
  dir: string;
  maxDirBytes: number;
  /** Bytes currently free (os/cgroup); injectable for tests. */
  availableMemory: () => number;
  heapUsed: () => number;
}

export interface SnapshotWriter {
  write(): Promise<HeapSnapshotResult>;
  inProgress(): boolean;
}

export const refuse = (message: string, headers?: Record<string, string>): HeadroomError =>
  new HeadroomError('HEADROOM_SNAPSHOT_REFUSED', message, { headers });

/** Total bytes of the regular files directly inside `dir`. */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    try {
      total += (await stat(join(dir, entry.name))).size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

export function createSnapshotWriter(opts: SnapshotWriterOptions): SnapshotWriter {
  const dir = resolve(opts.dir);
  let busy = false;

  return {
    inProgress: () => busy,
    async write() {
      if (busy) throw refuse('another heap snapshot request is being handled; try again when it has finished');
      busy = true;
      try {
        const heap = opts.heapUsed();
        const free = opts.availableMemory();
        const needed = SNAPSHOT_MEMORY_FACTOR * heap;
        if (free < needed) {
          throw refuse(
            `not enough free memory for a heap snapshot: ${mib(free)} free, about ${mib(needed)} needed (${SNAPSHOT_MEMORY_FACTOR}× the ${mib(heap)} heap: V8 builds the snapshot's graph outside the heap)`,
          );
        }
        await privateDir(dir);
        // A snapshot file is at least about the size of the used heap, so check the cap against
        // what the directory will hold afterwards, not only what it holds now.
        const used = await dirBytes(dir);
        if (used + heap > opts.maxDirBytes) {
          throw refuse(
            `snapshot directory ${dir} holds ${mib(used)}; another snapshot of about ${mib(heap)} would exceed its cap of ${mib(opts.maxDirBytes)} (snapshotMaxBytes, HEAP_SNAPSHOT_DIR_MAX_BYTES in the gateway); delete old snapshots first`,
          );
        }
        // The disk, too: a snapshot cut off by a full disk is useless, and (Node 20) its file stays
        // open, so even deleting it frees nothing until the process ends.
        const disk = await statfs(dir).catch(() => undefined);
        const diskFree = disk === undefined ? Infinity : disk.bavail * disk.bsize;
        if (diskFree < heap)
          throw refuse(`not enough free disk space in ${dir} for a heap snapshot: ${mib(diskFree)} free, about ${mib(heap)} needed`);
        const file = join(dir, `headroom-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.heapsnapshot`);
        const started = performance.now();
        try {
          v8.writeHeapSnapshot(file);
        } catch (err) {
          await rm(file, { force: true }); // nothing half-written is left behind
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC')
            throw refuse(`the disk under ${dir} filled up while the heap snapshot was written; it was removed (free some space first)`);
          throw err;
        }
        const durationMs = Math.round(performance.now() - started);
        return { path: file, bytes: (await stat(file)).size, durationMs };
      } finally {
        busy = false;
      }
    },
  };
}

/**
 * Creates `dir` (and missing parents) 0700. An existing directory that group or others can open
 * is tightened to 0700 when it is ours and not a shared sticky one (like /tmp); otherwise the
 * snapshot is refused: changing a directory someone else set up is not ours to do.
 */
async function privateDir(dir: string): Promise<void> {
  await makeDir(dir, 0o700);
  if (process.platform === 'win32') return;
  const st = await stat(dir);
  if ((st.mode & 0o077) === 0) return;
  if (st.uid === process.getuid?.() && (st.mode & 0o1000) === 0) {
    await chmod(dir, 0o700);
    return;
  }
  throw refuse(
    `snapshot directory ${dir} is not private: other users can open it (mode ${(st.mode & 0o7777).toString(8)}, owner uid ${st.uid}), ` +
      'and a snapshot holds every string in the heap, secrets included; point snapshotDir (HEAP_SNAPSHOT_DIR in the gateway) at a subdirectory that headroom creates (mode 0700), or chmod 700 this one',
  );
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
