// Builds the Next.js bench app (bench/adapters runs it once before the rounds): compiles the repo's
// src/ with tsc into .headroom-dist/ (what `headroom-memory/next` is aliased to, see next.config.mjs),
// then `next build`. Skipped when .next/ holds a build of exactly this source (a hash of src/, this
// folder, package-lock.json and tsconfig.build.json). CI=1 so that Next never installs anything it
// thinks is missing: it must not touch package.json or node_modules.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');
const SKIP = new Set(['.next', '.headroom-dist', 'node_modules']);

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...files(full));
    else out.push(full);
  }
  return out.sort();
}

function sourceHash() {
  const hash = createHash('sha256');
  const inputs = [
    ...files(path.join(repo, 'src')),
    ...files(here),
    path.join(repo, 'package-lock.json'),
    path.join(repo, 'tsconfig.build.json'),
  ];
  for (const f of inputs) hash.update(path.relative(repo, f)).update('\0').update(readFileSync(f));
  return hash.digest('hex');
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, CI: '1', NEXT_TELEMETRY_DISABLED: '1', NODE_OPTIONS: '', NODE_ENV: 'production' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) {
    throw new Error(
      `${path.basename(args[0] ?? cmd)} ${args.slice(1).join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`,
    );
  }
}

const stamp = path.join(here, '.next', 'headroom-build-hash');
const digest = sourceHash();
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) {
  console.log('next bench app: the build is up to date');
} else {
  const started = Date.now();
  const dist = path.join(here, '.headroom-dist');
  rmSync(dist, { recursive: true, force: true });
  rmSync(path.join(here, '.next'), { recursive: true, force: true });
  run(
    process.execPath,
    [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', dist, '--declaration', 'false'],
    repo,
  );
  run(process.execPath, [path.join(repo, 'node_modules/next/dist/bin/next'), 'build'], here);
  writeFileSync(stamp, digest);
  console.log(`next bench app built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
