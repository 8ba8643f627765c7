#!/usr/bin/env node
// npm run build: the ESM build in dist/ (the CLI and the `import` side of every entry point) and a
// CommonJS build of the library in dist/cjs/ (the `require` side), so that a CommonJS app — a NestJS
// project as the Nest CLI generates it, a plain require() — loads the package without require(esm).
// dist/cjs/package.json marks that tree as CommonJS for Node and for TypeScript.
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { finishBuild } from './build-finish.mjs';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.build.cjs.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
finishBuild(process.cwd(), 'dist');
