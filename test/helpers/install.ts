// The package as a user gets it, for the tests: built as `npm run build` builds it and packed as
// `npm pack` packs it, but in a temporary folder, so that no test ever rebuilds the repository's own
// dist/ while another test reads it (tests run two files at a time). Also each example as a user
// gets it: a copy of its folder, `npm install` (offline, from npm's cache) with `headroom-memory`
// pointed at that tarball, then `npm start`. (In the repository the examples depend on "file:../.."
// with install-links=true.)
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnWatched, type CliChild } from '../cli/child.js';
import { dieWithFile, killGroup } from './children.js';
import { finishBuild } from '../../scripts/build-finish.mjs';

const run = promisify(execFile);
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

/** What package.json's `files` packs besides the build (README, docs, deploy/…), as paths from the root. */
const packedSources = (): string[] =>
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files.filter((f) => f !== 'dist');

/**
 * What the package is built from: a new key whenever src/, a packed file, package.json or a tsconfig changes, and
 * per checkout (the build links to the checkout's node_modules, which another checkout's run on the
 * same machine must not inherit: once that checkout is gone the link dangles).
 */
function sourceKey(): string {
  const hash = createHash('sha256').update(ROOT).update('\0');
  const inputs = [
    ...files(join(ROOT, 'src')),
    ...packedSources().flatMap((f) => (statSync(join(ROOT, f)).isDirectory() ? [...files(join(ROOT, f))] : [join(ROOT, f)])),
    ...['package.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.build.cjs.json', 'scripts/build-finish.mjs'].map((f) =>
      join(ROOT, f),
    ),
  ];
  for (const f of inputs) hash.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

export interface BuiltPackage {
  /** The package folder: package.json, LICENSE, what package.json's `files` lists, both builds in dist/ and a link to node_modules. */
  dir: string;
  /** The tarball `npm pack` made of it. */
  tarball: string;
  /** The tarball's file names, as `npm pack --json` lists them. */
  files: string[];
}

/** A path's mtime, or now if it is gone: test files running at once remove each other's old builds and locks. */
function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Date.now();
    throw err;
  }
}

/**
 * The package, built and packed once while the sources stay the same, and shared by the tests that
 * run at the same time (a lock folder). Older builds in the temporary folder are removed.
 */
export async function builtPackage(): Promise<BuiltPackage> {
  const key = sourceKey();
  const cache = join(tmpdir(), `headroom-pack-${key}`);
  const dir = join(cache, 'package');
  const tarball = join(cache, 'headroom-memory.tgz');
  const listing = join(cache, 'files.json');
  const lock = join(cache, 'lock');
  mkdirSync(cache, { recursive: true });
  for (const deadline = Date.now() + 240_000; !existsSync(tarball);) {
    if (Date.now() > deadline) throw new Error(`no ${tarball} after 4 minutes (another test holds ${lock}?)`);
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() - mtimeMs(lock) > 300_000) rmSync(lock, { recursive: true, force: true }); // left by a killed run
      await sleep(500);
      continue;
    }
    try {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      for (const f of ['package.json', 'LICENSE', ...packedSources()]) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
      await run(process.execPath, [TSC, '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], { cwd: ROOT });
      await run(process.execPath, [TSC, '-p', 'tsconfig.build.cjs.json', '--outDir', join(dir, 'dist/cjs')], { cwd: ROOT });
      finishBuild(ROOT, join(dir, 'dist')); // what scripts/build.mjs does after tsc
      const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', cache], {
        cwd: dir,
        maxBuffer: 16 * 1024 * 1024,
      });
      const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
      writeFileSync(listing, JSON.stringify(packed!.files.map((f) => f.path)));
      // The built folder's own requires (undici, pino, …) resolve to the repository's dependencies.
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      renameSync(join(cache, packed!.filename), tarball); // last: the tarball says the build is complete
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  for (const name of readdirSync(tmpdir()))
    if (/^headroom-(examples-)?pack-[0-9a-f]{16}$/.test(name) && !name.endsWith(key)) {
      const old = join(tmpdir(), name);
      if (Date.now() - mtimeMs(old) > 3_600_000) rmSync(old, { recursive: true, force: true });
    }
  return { dir, tarball, files: JSON.parse(readFileSync(listing, 'utf8')) as string[] };
}

export interface InstalledExample {
  dir: string;
  /** `npm start` in the copy (the example's own start script), with these variables. */
  start(env: Record<string, string>): CliChild;
  remove(): void;
}

/**
 * Runs npm in its own process group, which is killed after `timeoutMs` or if this test file is cut
 * (an install's child processes would otherwise outlive both). Rejects with npm's output.
 */
function npm(args: string[], cwd: string, timeoutMs: number): Promise<void> {
  const child = dieWithFile(spawn('npm', args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.pid !== undefined && killGroup(child.pid), timeoutMs);
  return new Promise<void>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(`npm ${args.join(' ')} in ${cwd}: ${signal ? `killed (${signal}) after ${timeoutMs} ms` : `exit ${code}`}\n${output}`),
        );
    });
  });
}

/** examples/<name> copied to a temporary folder and installed with `npm install`, offline. */
export async function installExample(name: string): Promise<InstalledExample> {
  const { tarball } = await builtPackage();
  const dir = mkdtempSync(join(tmpdir(), `headroom-example-${name}-`));
  cpSync(join(ROOT, 'examples', name), dir, { recursive: true, filter: (src) => !/node_modules|package-lock\.json/.test(src) });
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  if (manifest.dependencies['headroom-memory'] !== 'file:../..') throw new Error(`examples/${name} should depend on "file:../.."`);
  manifest.dependencies['headroom-memory'] = `file:${tarball}`;
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  const flags = ['install', '--no-audit', '--no-fund', '--no-update-notifier'];
  try {
    // Offline works where npm's cache holds the package documents an install without a lockfile
    // asks for (after an `npm install` on this machine). A fresh `npm ci` does not leave them (an
    // offline install after `npm ci` into an empty cache fails ENOTCACHED), so on a new CI machine
    // the second install fetches them.
    await npm([...flags, '--offline'], dir, 180_000).catch(() => npm([...flags, '--prefer-offline'], dir, 180_000));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    start: (env) => spawnWatched('npm', ['start'], { cwd: dir, env: { HOME: process.env.HOME ?? '', ...env }, group: true }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
