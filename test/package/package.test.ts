// What a user installs: the package packed as `npm pack` packs it, then the tarball installed into
// fresh projects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../helpers/wait.js';
import { portClosed } from '../helpers/net.js';
import { exitWithin, spawnWatched } from '../cli/child.js';
import { builtPackage } from '../helpers/install.js';

const run = promisify(execFile);
const ROOT = process.cwd();
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  name: string;
  version: string;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional: boolean }>;
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

interface Target {
  types: string;
  default: string;
}
const exportsMap = (
  JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, string | { import: Target; require: Target }> }
).exports;
/** Entry points that must be in every tarball; the others (adapters, toolkit) are checked once they are built. */
const CORE = ['monitor', 'cache', 'proxy', 'image', 'errors', 'metrics', 'gateway'];
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
// With the flag, a require() of an ES module fails: the CommonJS consumers prove they get the CommonJS build.
const NO_REQUIRE_ESM = process.allowedNodeEnvironmentFlags.has('--experimental-require-module') ? ['--no-experimental-require-module'] : [];
/** What a project of that kind has installed anyway, linked from this repository. */
const LINKED = ['@types/node', '@nestjs', 'reflect-metadata', 'rxjs', 'express', '@types/express'];

describe('the packed tarball, installed into fresh projects', { timeout: 300_000 }, () => {
  let dir = '';
  let project = '';
  let installed = '';
  /** Entry names whose ESM and CommonJS files are in the tarball. */
  const entries: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'headroom-install-'));
    // Built as `npm run build` builds it and packed as `npm pack` packs it, in a folder of its own.
    const built = await builtPackage();
    copyFileSync(built.tarball, join(dir, 'headroom-memory.tgz'));
    const packed = { filename: 'headroom-memory.tgz' };
    const paths = new Set(built.files);
    assert.ok(paths.has('LICENSE'), 'LICENSE is packed');
    // docs/monitoring.md points users at the rules and dashboard of the version they installed.
    for (const file of ['deploy/prometheus/headroom-rules.yml', 'deploy/grafana/headroom.json', 'deploy/helm/headroom/Chart.yaml'])
      assert.ok(paths.has(file), `${file} is packed`);
    assert.ok(paths.has('dist/cli/main.js'));
    assert.ok(paths.has('dist/cjs/package.json'), 'dist/cjs is marked CommonJS');
    assert.deepEqual(
      [...paths].filter((p) => p.endsWith('.map')),
      [],
      'no source maps: they would point at src/, which is not shipped',
    );
    for (const [name, e] of Object.entries(exportsMap)) {
      if (typeof e === 'string') continue;
      const files = [e.import.default, e.import.types, e.require.default, e.require.types].map((f) => f.slice(2));
      const present = files.filter((f) => paths.has(f));
      if (present.length === 0 && !CORE.includes(name.slice(2))) continue; // an adapter not built in this branch yet
      assert.deepEqual(present, files, `${name}: both builds and their types are packed`);
      entries.push(name.slice(2));
    }
    assert.deepEqual(
      CORE.filter((n) => !entries.includes(n)),
      [],
    );

    // A lockfile made of the workspace's own resolutions lets npm install offline, from its cache.
    project = join(dir, 'project');
    mkdirSync(project);
    const tarball = `file:../${packed.filename}`;
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'project', private: true, type: 'module', dependencies: { [pkg.name]: tarball } }),
    );
    writeFileSync(
      join(project, 'package-lock.json'),
      JSON.stringify({
        name: 'project',
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name: 'project', dependencies: { [pkg.name]: tarball } },
          [`node_modules/${pkg.name}`]: {
            version: pkg.version,
            resolved: tarball,
            dependencies: pkg.dependencies,
            peerDependencies: pkg.peerDependencies,
            peerDependenciesMeta: pkg.peerDependenciesMeta,
            bin: { headroom: 'dist/cli/main.js' },
          },
          ...Object.fromEntries(runtimePackages),
        },
      }),
    );
    const flags = ['install', '--no-audit', '--no-fund', '--no-update-notifier'];
    await run('npm', [...flags, '--offline'], { cwd: project }).catch(() => run('npm', [...flags, '--prefer-offline'], { cwd: project }));
    installed = join(project, 'node_modules', pkg.name);
    for (const name of LINKED) {
      if (!existsSync(join(ROOT, 'node_modules', name)) || existsSync(join(project, 'node_modules', name))) continue;
      mkdirSync(dirname(join(project, 'node_modules', name)), { recursive: true });
      symlinkSync(realpathSync(join(ROOT, 'node_modules', name)), join(project, 'node_modules', name));
    }
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A consumer project beside `project`, sharing its node_modules. */
  function consumer(name: string, files: Record<string, string>): string {
    const at = join(dir, name);
    mkdirSync(at, { recursive: true });
    symlinkSync(join(project, 'node_modules'), join(at, 'node_modules'));
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(at, file)), { recursive: true });
      writeFileSync(join(at, file), text);
    }
    return at;
  }

  async function tsc(cwd: string, project = 'tsconfig.json'): Promise<void> {
    await run(process.execPath, [TSC, '-p', project], { cwd }).catch((err: { stdout?: string }) => {
      assert.fail(`tsc -p ${project} in ${cwd} failed:\n${err.stdout ?? String(err)}`);
    });
  }

  async function node(cwd: string, args: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await run(process.execPath, args, { cwd, timeout: 60_000 });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  }

  const ident = (entry: string) => `entry_${entry.replace(/\W/g, '_')}`;

  test('the bin runs, and the installed package holds no dangling source map', async () => {
    const help = await run(join(project, 'node_modules/.bin/headroom'), ['--help'], { cwd: project });
    assert.match(help.stdout, /^Usage: headroom <command>/);
    for (const file of files(installed)) {
      if (!file.endsWith('.map')) continue;
      const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of map.sources) {
        assert.ok(existsSync(resolve(dirname(file), map.sourceRoot ?? '', source)), `${file} points at missing ${source}`);
      }
    }
  });

  // The same program, typed against the package, for CommonJS projects: what the Nest CLI generates.
  const cjsMain = (all: string[]) => `import { createCache } from '${pkg.name}/cache';
import { createMemoryMonitor } from '${pkg.name}/monitor';
import { HeadroomError, isHeadroomError, statusOf, type ErrorCode } from '${pkg.name}/errors';
${all.map((e) => `import * as ${ident(e)} from '${pkg.name}/${e}';`).join('\n')}

async function main(): Promise<void> {
  const monitor = createMemoryMonitor();
  const cache = createCache({ l1: { maxBytes: 1024 * 1024 }, monitor });
  await cache.set('k', { hello: 'world' });
  const code: ErrorCode = 'HEADROOM_OVERLOADED';
  // @ts-expect-error: not a code of the registry, so the types are the package's, not any
  const wrong: ErrorCode = 'HEADROOM_NOPE';
  const entries = { ${all.map((e) => `'${e}': Object.keys(${ident(e)}).length`).join(', ')} };
  console.log(JSON.stringify({
    got: await cache.get('k'),
    status: statusOf(code),
    branded: isHeadroomError(new HeadroomError(code, 'busy')) && wrong.length > 0,
    resolved: require.resolve('${pkg.name}/cache'),
    entries,
  }));
  await cache.close();
  await monitor.close();
}
void main();
`;

  function assertRan(out: Record<string, unknown>, build: 'cjs' | 'esm', expected = entries): void {
    assert.deepEqual(out.got, { hello: 'world' });
    assert.equal(out.status, 503);
    assert.equal(out.branded, true);
    assert.equal(String(out.resolved).includes('/dist/cjs/'), build === 'cjs', `${build} build used: ${String(out.resolved)}`);
    for (const [e, n] of Object.entries(out.entries as Record<string, number>)) assert.ok(n > 0, `${e} exports something`);
    assert.deepEqual(Object.keys(out.entries as object).sort(), [...expected].sort());
  }

  test('a NestJS project as the Nest CLI generates it (module commonjs, node10 resolution) compiles and runs without require(esm)', async () => {
    const nestTsconfig = {
      compilerOptions: {
        module: 'commonjs',
        declaration: true,
        removeComments: true,
        emitDecoratorMetadata: true,
        experimentalDecorators: true,
        allowSyntheticDefaultImports: true,
        target: 'ES2023',
        sourceMap: true,
        outDir: './dist',
        baseUrl: './',
        incremental: true,
        skipLibCheck: true,
        strictNullChecks: true,
        forceConsistentCasingInFileNames: true,
        noImplicitAny: false,
        strictBindCallApply: false,
        noFallthroughCasesInSwitch: false,
      },
    };
    // Newer starters use module nodenext in a CommonJS package: the require side's types must be CommonJS.
    const nodenext = {
      compilerOptions: { ...nestTsconfig.compilerOptions, module: 'nodenext', moduleResolution: 'nodenext', outDir: './dist-nodenext' },
    };
    // Every entry point but Next.js's, which a NestJS app has no use for.
    const nestEntries = entries.filter((e) => e !== 'next');
    const at = consumer('nest', {
      'package.json': JSON.stringify({ name: 'nest-app', private: true }),
      'tsconfig.json': JSON.stringify(nestTsconfig),
      'tsconfig.nodenext.json': JSON.stringify(nodenext),
      'src/main.ts': cjsMain(nestEntries),
    });
    await tsc(at);
    assertRan(await node(at, [...NO_REQUIRE_ESM, 'dist/main.js']), 'cjs', nestEntries);
    await tsc(at, 'tsconfig.nodenext.json');
    assertRan(await node(at, [...NO_REQUIRE_ESM, 'dist-nodenext/main.js']), 'cjs', nestEntries);
  });

  test("a plain require() user gets the CommonJS build of every entry point; only the image part's first transform would load sharp", async () => {
    const at = consumer('plain', {
      'package.json': JSON.stringify({ name: 'plain', private: true }),
      'main.cjs': `const sharpLoaded = () => process.report.getReport().sharedObjects.some((s) => /libvips|sharp-[a-z0-9-]+\\.node$/.test(s));
const { createCache } = require('${pkg.name}/cache');
const entries = {};
for (const e of ${JSON.stringify(entries.filter((e) => !['image', 'next'].includes(e)))}) entries[e] = Object.keys(require('${pkg.name}/' + e)).length;
const beforeImage = sharpLoaded();
entries.image = Object.keys(require('${pkg.name}/image')).length;
(async () => {
  const cache = createCache({ l1: { maxBytes: 1024 * 1024 } });
  await cache.set('k', { hello: 'world' });
  const { HeadroomError, isHeadroomError, statusOf } = require('${pkg.name}/errors');
  console.log(JSON.stringify({
    got: await cache.get('k'), status: statusOf('HEADROOM_OVERLOADED'), branded: isHeadroomError(new HeadroomError('HEADROOM_INTERNAL', 'x')),
    resolved: require.resolve('${pkg.name}/cache'), entries, sharp: [beforeImage, sharpLoaded()],
  }));
  await cache.close();
})();
`,
    });
    const out = await node(at, [...NO_REQUIRE_ESM, 'main.cjs']);
    assertRan(
      out,
      'cjs',
      entries.filter((e) => e !== 'next'),
    );
    assert.deepEqual(out.sharp, [false, false], 'sharp is not loaded by any entry point, image included');
  });

  test('an ESM TypeScript user (module nodenext) compiles and runs; HeadroomErrors of the CommonJS copy are recognised', async () => {
    const at = consumer('esm', {
      'package.json': JSON.stringify({ name: 'esm-app', private: true, type: 'module' }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'ES2022',
          strict: true,
          outDir: 'dist',
          skipLibCheck: true,
          types: ['node'],
        },
      }),
      'src/main.ts': `import { createRequire } from 'node:module';
import { createCache } from '${pkg.name}/cache';
import { createMemoryMonitor } from '${pkg.name}/monitor';
import { HeadroomError, isHeadroomError, statusOf, type ErrorCode } from '${pkg.name}/errors';
import imageLoader, { createImageLoader } from '${pkg.name}/next/image-loader';
const require = createRequire(import.meta.url);
const entries: Record<string, number> = {};
for (const e of ${JSON.stringify(entries)}) entries[e] = Object.keys(await import('${pkg.name}/' + e)).length;
const monitor = createMemoryMonitor();
const cache = createCache({ l1: { maxBytes: 1024 * 1024 }, monitor });
await cache.set('k', { hello: 'world' });
const code: ErrorCode = 'HEADROOM_OVERLOADED';
// @ts-expect-error: not a code of the registry, so the types are the package's, not any
const wrong: ErrorCode = 'HEADROOM_NOPE';
// The dual-package hazard: the CommonJS copy has its own class; isHeadroomError knows both.
const cjs = require('${pkg.name}/errors') as typeof import('${pkg.name}/errors');
const foreign = new cjs.HeadroomError('HEADROOM_INTERNAL', 'from the CommonJS copy');
console.log(JSON.stringify({
  got: await cache.get('k'),
  status: statusOf(code),
  branded: isHeadroomError(new HeadroomError(code, 'busy')) && wrong.length > 0,
  resolved: import.meta.resolve('${pkg.name}/cache'),
  entries,
  dual: [cjs.HeadroomError === HeadroomError, foreign instanceof HeadroomError, isHeadroomError(foreign), cjs.isHeadroomError(new HeadroomError(code, 'x'))],
  // One CommonJS module on both sides whose default is the loader (what next/image calls).
  loader: [imageLoader({ src: 'https://img.example/a.png', width: 64 }), createImageLoader({ path: '/i' })({ src: 'x', width: 8, quality: 5 })],
  loaderResolved: import.meta.resolve('${pkg.name}/next/image-loader').includes('/dist/cjs/'),
}));
await cache.close();
await monitor.close();
`,
    });
    await tsc(at);
    const out = await node(at, ['dist/main.js']);
    assertRan(out, 'esm');
    assert.deepEqual(out.dual, [false, false, true, true]);
    assert.deepEqual(out.loader, ['/image?url=https%3A%2F%2Fimg.example%2Fa.png&w=64&q=75', '/i?url=x&w=8&q=5']);
    assert.equal(out.loaderResolved, true);
  });

  test('the installed gateway stops on SIGTERM (the recipe from docs/deployment.md)', async () => {
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
  });
});

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
