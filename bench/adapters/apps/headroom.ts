// How a bench app loads headroom: from the compiled JavaScript in BENCH_HEADROOM_DIST (set by
// bench/adapters, see ../dist.ts), and only in the headroom variant, so the bare app holds none of it.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The module `entry` (e.g. "adapters/fastify/index.js") of the compiled headroom, typed as its source `T`. */
export async function loadHeadroom<T>(entry: string): Promise<T> {
  const dist = process.env.BENCH_HEADROOM_DIST;
  if (!dist) throw new Error('BENCH_HEADROOM_DIST is not set: run the app through npm run bench -- adapters');
  return (await import(pathToFileURL(join(dist, entry)).href)) as T;
}
