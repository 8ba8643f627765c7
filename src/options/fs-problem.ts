// Why a file or directory a user named (a config file, CACHE_DIR, a snapshot directory) cannot be
// used, in words: the messages name the path and the option, this says what is wrong with it.
import { existsSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Words for a failed file system call on `path` (the error's code). `creating`: the call made the
 * path (a missing path then means its parent, or a file system that takes no new files).
 */
export function fsReason(err: unknown, path: string, creating = false): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': {
      if (!creating) return 'no such file';
      const parent = dirname(resolve(path));
      return existsSync(parent)
        ? `cannot be created in ${parent} (a file system that holds no files of ours, such as /proc or /sys)`
        : `its parent directory ${parent} does not exist`;
    }
    case 'EACCES':
    case 'EPERM':
      return creating ? 'permission denied: this user must be able to create it, or read and write in it' : 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'it, or a folder on its path, is a file, not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return code ?? (err instanceof Error ? err.message : String(err));
  }
}

/**
 * Why files cannot be written to `dir`, checked before work whose files would otherwise be lost
 * (heap snapshots at the limit, after a soak): made when missing (`mode`; 0700 by default, as
 * snapshots hold every string of the heap), then a file written and removed in it. Not recursive
 * (Node 20's recursive mkdir spins for ever under /proc): its parent must exist.
 */
export function dirProblem(dir: string, mode = 0o700): string | undefined {
  const path = resolve(dir);
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) return 'is a file, not a directory';
    if (!st) mkdirSync(path, { mode });
    const probe = join(path, `.headroom-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
    return undefined;
  } catch (err) {
    return fsReason(err, path, true);
  }
}
