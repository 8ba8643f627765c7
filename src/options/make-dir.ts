// `mkdir -p` for directories a user names (CACHE_DIR, a spill or snapshot directory). Node 20's
// recursive mkdir (sync and async) retries for ever where a file system refuses to create anything
// (/proc: ENOENT although the parent exists), hanging start-up or a thread-pool thread. Here the
// missing levels are made one by one, each once: such a refusal throws its ENOENT.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** The levels of `dir` that do not exist yet, outermost first. */
function missingLevels(dir: string): string[] {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  return missing;
}

/** An EEXIST from a level another process made meanwhile is no failure; a file there is. */
const madeMeanwhile = (err: unknown, isDirectory: () => boolean): boolean =>
  (err as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory();

/** Creates `dir` and its missing parents (`mode` for the ones made); throws what mkdir throws. */
export function makeDirSync(dir: string, mode?: number): void {
  for (const p of missingLevels(dir)) {
    try {
      mkdirSync(p, { mode });
    } catch (err) {
      if (!madeMeanwhile(err, () => statSync(p).isDirectory())) throw err;
    }
  }
}

/** makeDirSync, without blocking the event loop on the mkdir calls. */
export async function makeDir(dir: string, mode?: number): Promise<void> {
  for (const p of missingLevels(dir)) {
    try {
      await mkdir(p, { mode });
    } catch (err) {
      const st = await stat(p).catch(() => undefined);
      if (!madeMeanwhile(err, () => st?.isDirectory() === true)) throw err;
    }
  }
}
