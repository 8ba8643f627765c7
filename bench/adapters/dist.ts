// The compiled headroom the bench apps load (BENCH_HEADROOM_DIST): the JavaScript tsc emits, as users
// run it, not the TypeScript source through tsx (which esbuild transforms its own way). By default
// src/ compiled into bench/adapters/.headroom-dist, again only when the source changed; --dist DIR
// takes another compile instead, e.g. an older commit's dist/ for an A/B.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs script without types
import { prepareHeadroomDist } from '../../scripts/next-build.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** The directory of compiled headroom to load: `given` (checked), else a fresh compile of src/. */
export function headroomDist(given: string | undefined): string {
  if (given !== undefined) {
    const dist = resolve(given);
    if (!existsSync(join(dist, 'adapters', 'fastify', 'index.js')))
      throw new Error(
        `--dist ${given}: no adapters/fastify/index.js in ${dist}; expected headroom's compiled ESM (e.g. dist/ after npm run build)`,
      );
    return dist;
  }
  const dist = join(here, '.headroom-dist');
  const started = Date.now();
  process.stdout.write('compiling headroom (src/ → bench/adapters/.headroom-dist) … ');
  const compiled = (prepareHeadroomDist as (dir: string) => boolean)(dist);
  console.log(compiled ? `done in ${((Date.now() - started) / 1000).toFixed(1)} s` : 'up to date');
  return dist;
}
