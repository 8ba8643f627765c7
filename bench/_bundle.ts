// Bundles a benchmark's server entry to one ESM file (esbuild, tsx's own compiler; packages stay
// external) so the measured child runs as plain node, as production runs compiled JS, without a
// TypeScript loader's start-up memory in its RSS.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cacheDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.cache', 'headroom-bench');

/** Writes the bundle of `entry` to node_modules/.cache/headroom-bench/`name` and returns its path. */
export async function bundleForNode(entry: string, name: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(cacheDir, name);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return outfile;
}
