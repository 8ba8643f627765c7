// What a user installs: `npm pack`, then the tarball installed into a fresh project.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../helpers/wait.js';
import { portClosed } from '../helpers/net.js';
import { exitWithin, spawnWatched } from '../cli/child.js';

const run = promisify(execFile);
const ROOT = process.cwd();
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  engines: { node: string };
  dependencies: Record<string, string>;
};

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  engines?: { node?: string };
}
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> };
/** Every package a production install of headroom gets, as laid out in node_modules. */
const runtimePackages = Object.entries(lock.packages).filter(([path, e]) => path !== '' && !e.dev && !e.devOptional);

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

test(
  'the packed tarball installs into a fresh project: bin, subpath exports, no dangling source maps, signals',
  { timeout: 240_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headroom-pack-'));
    try {
      // npm pack runs `prepare`, i.e. a clean build.
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
      const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
      const paths = packed!.files.map((f) => f.path);
      assert.ok(paths.includes('LICENSE'), 'LICENSE is packed');
      assert.ok(paths.includes('dist/cli/main.js'));
      assert.deepEqual(
        paths.filter((p) => p.endsWith('.map')),
        [],
        'no source maps: they would point at src/, which is not shipped',
      );

      // A lockfile made of the workspace's own resolutions lets npm install offline, from its cache.
      const project = join(dir, 'project');
      mkdirSync(project);
      const tarball = `file:../${packed!.filename}`;
      writeFileSync(
        join(project, 'package.json'),
        JSON.stringify({ name: 'project', private: true, type: 'module', dependencies: { headroom: tarball } }),
      );
      const packages = Object.fromEntries(runtimePackages);
      writeFileSync(
        join(project, 'package-lock.json'),
        JSON.stringify({
          name: 'project',
          lockfileVersion: 3,
          requires: true,
          packages: {
            '': { name: 'project', dependencies: { headroom: tarball } },
            'node_modules/headroom': {
              version: pkg.version,
              resolved: tarball,
              dependencies: pkg.dependencies,
              bin: { headroom: 'dist/cli/main.js' },
            },
            ...packages,
          },
        }),
      );
      const flags = ['install', '--no-audit', '--no-fund', '--no-update-notifier'];
      await run('npm', [...flags, '--offline'], { cwd: project }).catch(() => run('npm', [...flags, '--prefer-offline'], { cwd: project }));

      const help = await run(join(project, 'node_modules/.bin/headroom'), ['--help'], { cwd: project });
      assert.match(help.stdout, /^Usage: headroom <command>/);
      const cache = await run(
        process.execPath,
        ['--input-type=module', '-e', "const m = await import('headroom-memory/cache'); console.log(typeof m.createCache)"],
        { cwd: project },
      );
      assert.equal(cache.stdout.trim(), 'function');

      const installed = join(project, 'node_modules/headroom');
      for (const file of files(installed)) {
        if (!file.endsWith('.map')) continue;
        const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourceRoot?: string };
        for (const source of map.sources) {
          assert.ok(existsSync(resolve(dirname(file), map.sourceRoot ?? '', source)), `${file} points at missing ${source}`);
        }
      }

      // The recipe from docs/deployment.md: SIGTERM to node_modules/.bin/headroom stops the gateway.
      const gw = spawnWatched(join(project, 'node_modules/.bin/headroom'), ['serve', '--port', '0'], {
        env: { CACHE_DIR: join(dir, 'cache') },
      });
      try {
        const [, url] = await gw.waitForOutput(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
        gw.child.kill('SIGTERM');
        assert.deepEqual(await exitWithin(gw, 15_000, 'installed gateway after SIGTERM'), { code: 0, signal: null });
        await waitFor(() => portClosed(url!), 'the port to be free');
      } finally {
        gw.kill();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('engines.node admits only versions every runtime dependency accepts', () => {
  // semver comes with sharp, a runtime dependency.
  const semver = createRequire(import.meta.url)('semver') as {
    minVersion(range: string): { version: string };
    satisfies(v: string, range: string): boolean;
  };
  const min = semver.minVersion(pkg.engines.node).version;
  // cookie is only loaded by fastify.inject() (through light-my-request), which headroom never calls.
  const notLoaded = new Set(['node_modules/cookie']);
  const checked = [min, '22.0.0', '24.0.0'];
  for (const [path] of runtimePackages) {
    if (notLoaded.has(path) || !existsSync(join(path, 'package.json'))) continue; // other platforms' optional binaries
    const range = (JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as LockEntry).engines?.node;
    if (!range) continue;
    for (const v of checked)
      assert.ok(semver.satisfies(v, range), `${path.slice('node_modules/'.length)} needs node ${range}; engines admits ${v}`);
  }
});
