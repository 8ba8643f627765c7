// Builds a Next.js app of this repository against the repo's own source (the conformance fixture
// test/fixtures/apps/next and the bench app bench/adapters/apps/next): compiles src/ with tsc into
// the app's .headroom-dist/ (what its next.config.mjs aliases `headroom-memory/next` to), then runs
// `next build`. Skipped when the app's .next/ holds a build of exactly this source (a hash of src/,
// the app's folder, this file, package-lock.json and tsconfig.build.json). (prepareHeadroomDist
// compiles src/ alone, for bench apps that must run the JavaScript users run, not the source through
// tsx.) CI=1 so that Next never installs anything it thinks is missing: it must not touch
// package.json or node_modules.
// Test files run in parallel: one process builds under a lock directory, the others wait for it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(self), '..');
const SKIP = new Set(['.next', '.headroom-dist', 'node_modules', '.prepare.lock']);

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

function sourceHash(app) {
  const hash = createHash('sha256');
  const inputs = [
    ...files(path.join(repo, 'src')),
    ...(app ? files(app) : []),
    self,
    path.join(repo, 'package-lock.json'),
    path.join(repo, 'tsconfig.build.json'),
  ];
  for (const f of inputs) hash.update(path.relative(repo, f)).update('\0').update(readFileSync(f));
  return hash.digest('hex');
}

function run(cmd, args, cwd, env) {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, CI: '1', NEXT_TELEMETRY_DISABLED: '1', NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0)
    throw new Error(
      `${path.basename(args[0] ?? cmd)} ${args.slice(1).join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`,
    );
}

/** tsc of src/ into `dist` (ESM, no declarations), with the dashboard's files as scripts/build.mjs places them. */
function compileSource(dist, env) {
  rmSync(dist, { recursive: true, force: true });
  const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');
  run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', dist, '--declaration', 'false'], repo, env);
  cpSync(path.join(repo, 'src/observe/dashboard/static'), path.join(dist, 'observe/dashboard/static'), { recursive: true });
}

/**
 * Compiles src/ into `dist` unless it holds a compile of exactly this source (a stamp file in it);
 * returns whether it compiled. One caller at a time (no lock: the benches run one after another).
 */
export function prepareHeadroomDist(dist) {
  const digest = sourceHash(undefined);
  const stamp = path.join(dist, '.headroom-build-hash');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return false;
  compileSource(dist, {});
  writeFileSync(stamp, digest);
  return true;
}

/**
 * The compiled source as an installed package, `node_modules/headroom-memory` in the app (the ESM
 * side of `./next` only), for an app whose next.config has `serverExternalPackages:
 * ['headroom-memory']`: Node loads it at run time as it loads a user's install.
 */
function installAsPackage(app, env) {
  const pkg = path.join(app, 'node_modules', 'headroom-memory');
  rmSync(pkg, { recursive: true, force: true });
  compileSource(path.join(pkg, 'dist'), env);
  const manifest = { name: 'headroom-memory', private: true, type: 'module', exports: { './next': './dist/adapters/next/index.js' } };
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
}

function build(app, digest, env, layout) {
  rmSync(path.join(app, '.next'), { recursive: true, force: true });
  if (layout === 'package') installAsPackage(app, env);
  else compileSource(path.join(app, '.headroom-dist'), env);
  run(process.execPath, [path.join(repo, 'node_modules/next/dist/bin/next'), 'build'], app, env);
  writeFileSync(path.join(app, '.next', 'headroom-build-hash'), digest);
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Builds the Next.js app in `app` unless its build is up to date; returns whether it built.
 * `env` is added to the environment of tsc and `next build`. `layout`: 'alias' compiles src/ into
 * the app's .headroom-dist/ (its next.config aliases the package there, and Next bundles it);
 * 'package' installs it as node_modules/headroom-memory (for serverExternalPackages).
 */
export function prepareNextApp(app, env = {}, layout = 'alias') {
  const digest = sourceHash(app);
  const stamp = path.join(app, '.next', 'headroom-build-hash');
  const lock = path.join(app, '.prepare.lock');
  const installed = layout !== 'package' || existsSync(path.join(app, 'node_modules', 'headroom-memory', 'package.json'));
  const current = () => installed && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest;
  for (const until = Date.now() + 300_000; ;) {
    if (current()) return false;
    try {
      mkdirSync(lock);
      break;
    } catch {
      const owner = Number(readFileSync(path.join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (owner && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > until) throw new Error(`another build (pid ${owner}) still holds ${lock}`);
      else sleep(200);
    }
  }
  try {
    writeFileSync(path.join(lock, 'pid'), String(process.pid));
    if (current()) return false;
    build(app, digest, env, layout);
    return true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** For an app's prepare.mjs run as a script: builds and says what it did. */
export function prepareNextAppMain(app, label, env, layout) {
  const started = Date.now();
  const built = prepareNextApp(app, env, layout);
  console.log(built ? `${label} built in ${((Date.now() - started) / 1000).toFixed(1)} s` : `${label}: the build is up to date`);
}
