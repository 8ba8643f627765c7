// examples/nestjs started as a user starts it (`node main.js`, CommonJS), against this repository
// as the installed `headroom-memory` package: a temporary node_modules/headroom-memory symlink to
// the repository root. It needs the package's CommonJS build (dist/cjs, made by `npm run build`,
// which `npm ci` runs through `prepare`); the build is made here when it is missing.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../adapters/nestjs/app.js';

const ROOT = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples/nestjs');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports?: Record<string, unknown> };
const ready = pkg.name === 'headroom-memory' && pkg.exports?.['./nestjs'] !== undefined;
if (!ready) console.warn('\n*** SKIP test/examples/nestjs: package.json has no headroom-memory "./nestjs" export yet ***\n');

describe('examples/nestjs', { skip: !ready, timeout: 240_000 }, () => {
  let upstream: Upstream;
  let child: ChildProcess;
  let modules: string;
  let url: string;
  let output = '';

  before(async () => {
    if (!existsSync(join(ROOT, 'dist/cjs/adapters/nestjs/index.js'))) {
      const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
      assert.equal(build.status, 0, 'npm run build');
    }
    modules = mkdtempSync(join(tmpdir(), 'headroom-example-nestjs-'));
    mkdirSync(join(modules, 'node_modules'));
    symlinkSync(ROOT, join(modules, 'node_modules/headroom-memory'), 'dir');
    upstream = await startUpstream();
    child = spawn(process.execPath, ['main.js'], {
      cwd: EXAMPLE,
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        // The example's own dependencies (@nestjs/*) come from the repository's node_modules.
        NODE_PATH: [join(modules, 'node_modules'), join(ROOT, 'node_modules')].join(delimiter),
        PORT: '0',
        UPSTREAM_URL: upstream.url,
        API_KEY: 'example-key',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c));
    child.stderr!.on('data', (c: Buffer) => (output += c));
    url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`the example did not start:\n${output}`)), 60_000);
      const check = (): void => {
        const m = /listening on (http:\/\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]!);
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}:\n${output}`)));
    });
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await upstream?.close();
    if (modules) rmSync(modules, { recursive: true, force: true });
  });

  test('health and metrics answer without the API key', async () => {
    assert.equal((await request(`${url}/health/ready`)).status, 200);
    assert.equal((await request(`${url}/health`)).json().status, 'healthy');
    assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight /m);
  });

  test("/api/* is proxied behind the app's guard, path and query kept", async () => {
    assert.equal((await request(`${url}/api/users?x=1`)).status, 401);
    const r = await request(`${url}/api/users?x=1&y=%2F`, {
      method: 'POST',
      headers: { 'x-api-key': 'example-key', 'content-type': 'application/json' },
      body: '{"name":"ada"}',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { method: 'POST', url: '/users?x=1&y=%2F', body: '{"name":"ada"}', contentType: 'application/json' });
  });

  test('the JSON route of its own is behind the body parser and the guard', async () => {
    const body = '{"text":"hi"}';
    assert.equal((await request(`${url}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 401);
    const r = await request(`${url}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'example-key' },
      body,
    });
    assert.equal(r.status, 201);
    assert.deepEqual(r.json(), { saved: { text: 'hi' } });
  });

  test('SIGTERM: the process closes everything and exits with code 0', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  });
});
