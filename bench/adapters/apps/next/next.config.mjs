// The Next.js bench app runs headroom as the docs recommend: `serverExternalPackages`, so Node loads
// one copy of the package from node_modules at run time instead of Turbopack bundling it into each
// chunk. prepare.mjs compiles the repo's source into node_modules/headroom-memory/ here.
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');
// Turbopack compiles nothing outside its root; a node_modules that is a symlink (a git worktree
// sharing another checkout's install) lives elsewhere, so the root is what both have in common.
const nextDir = realpathSync(path.dirname(createRequire(import.meta.url).resolve('next/package.json')));
let root = repo;
while (!nextDir.startsWith(root + path.sep)) root = path.dirname(root);

/** @type {import('next').NextConfig} */
export default {
  outputFileTracingRoot: root,
  pageExtensions: ['js'],
  serverExternalPackages: ['headroom-memory'],
  turbopack: { root },
};
