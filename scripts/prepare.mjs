#!/usr/bin/env node
// npm's `prepare`: builds dist/. It stays `prepare` (not `prepack`) because npm runs `prepare` —
// and only `prepare` — in the three places a built package is needed from this repository:
//   - `npm install` in a clone, so `npm start` (dist/cli/main.js) works on a fresh clone;
//   - a directory dependency packed by npm (`"headroom-memory": "file:../.."` with install-links, as
//     examples/*/ use it) and a git dependency (`npm install github:…`);
//   - `npm pack` / `npm publish` (npm runs prepare there as well, so prepack would add nothing).
// Installing the packed tarball never runs it (there is no scripts/ in the tarball); npm 11 merely
// lists it in its install-scripts notice.
//
// When npm packs this directory as an example's dependency on a fresh clone, our devDependencies
// (TypeScript) are not installed: they are installed here first, without scripts (no recursion).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const hasTypeScript = () => {
  try {
    createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
    return true;
  } catch {
    return false;
  }
};

if (!hasTypeScript()) {
  console.error(
    "headroom-memory: building dist/ needs the repository's devDependencies; installing them first (npm install --ignore-scripts)",
  );
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund']);
}
run(process.execPath, [join(root, 'scripts/build.mjs')]);
