// The footprint benches measure the built package (plain `node`, no TypeScript loader): each
// refuses to run without it, and against a dist/ older than src/ unless told to measure another build.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Exits (2) with `missing` when `file` is not there, or, unless `other` (another build was named),
 * when anything under root/src is newer than it.
 */
export function requireCurrentBuild(root: string, file: string, missing: string, other: boolean): void {
  let built: number;
  try {
    built = statSync(file).mtimeMs;
  } catch {
    console.error(missing);
    process.exit(2);
  }
  if (!other && newestMtime(join(root, 'src')) > built) {
    console.error('dist/ is older than src/: run `npm run build` first');
    process.exit(2);
  }
}
