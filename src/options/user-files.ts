// Files and directories a user names (a config file, a soak scenario, CACHE_DIR, a snapshot
// directory): read within a bound, and why one cannot be used, in words. The messages name the
// path and the option; these say what is wrong with it.
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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
      // The path the call made (a probe file in the directory, say), when the error names it.
      const parent = dirname(resolve((err as NodeJS.ErrnoException).path ?? path));
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
      // ELOOP, ENAMETOOLONG, EIO…: Node's message names the code and says it in words.
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Why files cannot be written to `dir`, checked before work whose files would otherwise be lost
 * (heap snapshots at the limit, after a soak): made when missing (`mode`; 0700 by default, as
 * snapshots hold every string of the heap), then a file written and removed in it. Not recursive
 * (Node 20's recursive mkdir spins for ever under /proc): its parent must exist. With `keep: false`
 * a directory made for the check is removed again.
 */
export function dirProblem(dir: string, mode = 0o700, { keep = true } = {}): string | undefined {
  const path = resolve(dir);
  let made = false;
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) return 'is a file, not a directory';
    if (!st) {
      mkdirSync(path, { mode });
      made = true;
    }
    const probe = join(path, `.headroom-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
    return undefined;
  } catch (err) {
    return fsReason(err, path, true);
  } finally {
    // keep: false checks a directory that is needed only later, leaving no trace until then.
    if (made && !keep) {
      try {
        rmdirSync(path);
      } catch {
        // left behind: empty, and made where it was asked for
      }
    }
  }
}

/**
 * The text of a small file a user named, read at most `maxBytes` + 1 bytes: /dev/zero, a FIFO or a
 * huge file is refused, never read whole into memory (or waited on). Throws an Error whose message
 * says what is wrong (for the caller to prefix with the option and path).
 */
export function readSmallFile(path: string, maxBytes: number, what = 'a JSON file'): string {
  const tooLarge = `the file is larger than ${formatBytes(maxBytes)}, the most that is read`;
  let fd: number | undefined;
  try {
    const st = statSync(path);
    if (!st.isFile())
      throw new Error(`not a regular file (${st.isDirectory() ? 'a directory' : 'a device, pipe or socket'}); give ${what}`);
    if (st.size > maxBytes) throw new Error(tooLarge);
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > maxBytes) throw new Error(tooLarge); // it grew since
    return buf.toString('utf8', 0, n);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    throw new Error(`cannot read the file (${fsReason(err, path)})`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const formatBytes = (n: number): string => (n % 1024 ** 2 === 0 ? `${n / 1024 ** 2} MiB` : `${n} bytes`);
