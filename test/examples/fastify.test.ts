// examples/fastify runs as a user would run it after `npm install`: its server.js, unchanged, with
// `headroom-memory` resolving to this repo's adapter compiled by tsc (a package in a temp folder
// whose ./fastify export is the built dist) and fastify from the repo's node_modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnWatched } from '../cli/child.js';
import { request } from '../helpers/http.js';
import { startUpstream } from '../proxy/helpers.js';

const root = resolve('.');
const example = join(root, 'examples/fastify');

test('examples/fastify: proxy behind its auth hook, its JSON route, health, metrics, SIGTERM exit 0', { timeout: 120_000 }, async () => {
  const manifest = JSON.parse(readFileSync(join(example, 'package.json'), 'utf8'));
  assert.equal(manifest.scripts.start, 'node server.js');
  assert.equal(manifest.dependencies['headroom-memory'], 'file:../..');

  const dir = mkdtempSync(join(tmpdir(), 'headroom-example-fastify-'));
  const up = await startUpstream((req, res) => res.end(JSON.stringify({ url: req.url, key: req.headers['x-api-key'] ?? null })));
  let app: ReturnType<typeof spawnWatched> | undefined;
  try {
    // The package: the adapter built from src, its dependencies from the repo.
    const pkg = join(dir, 'headroom-memory');
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(pkg, 'dist'), '--declaration', 'false'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(build.status, 0, `tsc failed:\n${build.stdout}${build.stderr}`);
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'headroom-memory', type: 'module', exports: { './fastify': './dist/adapters/fastify/index.js' } }),
    );
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    // The app folder after `npm install`.
    const appDir = join(dir, 'app');
    cpSync(example, appDir, { recursive: true, filter: (src) => !src.includes('node_modules') });
    mkdirSync(join(appDir, 'node_modules'));
    symlinkSync(pkg, join(appDir, 'node_modules/headroom-memory'), 'dir');
    symlinkSync(join(root, 'node_modules/fastify'), join(appDir, 'node_modules/fastify'), 'dir');

    app = spawnWatched(process.execPath, ['server.js'], {
      cwd: appDir,
      env: { PORT: '0', UPSTREAM_URL: up.url, APP_API_KEY: 'example-key', LOG_LEVEL: 'info' },
    });
    const url = (await app.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    const key = { 'x-api-key': 'example-key' };

    assert.equal((await request(`${url}/api/items?x=1`)).status, 401, 'the auth hook covers the proxy');
    assert.equal(up.received.length, 0);
    assert.deepEqual((await request(`${url}/api/items?x=1`, { headers: key })).json(), { url: '/items?x=1', key: 'example-key' });
    const note = await request(`${url}/notes`, {
      method: 'POST',
      headers: { ...key, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hi' }),
    });
    assert.equal(note.status, 201, note.text);
    assert.equal(note.json().saved.text, 'hi');
    assert.equal((await request(`${url}/notes`, { method: 'POST', body: '{}' })).status, 401);
    assert.equal((await request(`${url}/health`)).json().status, 'healthy');
    assert.equal((await request(`${url}/health/ready`)).status, 200);
    assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 0$/m);
    assert.equal((await request(`${url}/admin/memory-stats`)).status, 403);

    app.child.kill('SIGTERM');
    assert.deepEqual(await app.exited, { code: 0, signal: null }, app.output());
  } finally {
    app?.kill();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
