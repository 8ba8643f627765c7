// The Next.js adapter in a real Next app: test/fixtures/next-app is built with `next build` (once
// per change of src/ or the fixture: the build is stamped with a hash) and started with its
// server.mjs, then exercised through real HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from '../../helpers/http.js';
import { startUpstream, type Upstream } from '../../proxy/helpers.js';

const repo = path.resolve(import.meta.dirname, '../../..');
const fixture = path.join(repo, 'test/fixtures/next-app');
const ADMIN = 'admin-token-0123456789abcdef';

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === '.next' || name === '.headroom-dist' || name === 'node_modules') continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...files(full));
    else out.push(full);
  }
  return out.sort();
}

/** Builds the fixture unless a build of exactly this source is there already. */
function build(): void {
  const hash = createHash('sha256');
  for (const f of [...files(path.join(repo, 'src')), ...files(fixture), path.join(repo, 'package-lock.json')]) {
    hash.update(path.relative(repo, f)).update(readFileSync(f));
  }
  const digest = hash.digest('hex');
  const stamp = path.join(fixture, '.next', 'headroom-build-hash');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  const dist = path.join(fixture, '.headroom-dist');
  rmSync(dist, { recursive: true, force: true });
  const run = (cmd: string, args: string[], cwd: string): void => {
    // CI=1: Next never tries to install packages it thinks are missing.
    const r = spawnSync(cmd, args, { cwd, env: { ...process.env, CI: '1', NEXT_TELEMETRY_DISABLED: '1' }, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  };
  run(
    process.execPath,
    [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', dist, '--declaration', 'false'],
    repo,
  );
  run(process.execPath, [path.join(repo, 'node_modules/next/dist/bin/next'), 'build'], fixture);
  writeFileSync(stamp, digest);
}

interface App {
  url: string;
  child: ChildProcess;
  output: () => string;
}

function startApp(env: Record<string, string>): Promise<App> {
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: fixture,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start:\n${out}`)), 30_000);
    const onData = (c: Buffer): void => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`the app exited with ${code}:\n${out}`)));
  });
}

describe('Next.js adapter in a built Next app', { timeout: 240_000 }, () => {
  let up: Upstream;
  let app: App;

  before(async () => {
    build();
    up = await startUpstream((req, res) => {
      if (req.url?.startsWith('/big')) {
        const total = 64 * 1024 * 1024;
        const block = Buffer.alloc(256 * 1024, 1);
        res.writeHead(200, { 'content-length': String(total), 'content-type': 'application/octet-stream' });
        let sent = 0;
        const write = (): void => {
          while (sent < total) {
            sent += block.length;
            if (!res.write(block)) return void res.once('drain', write);
          }
          res.end();
        };
        return write();
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': '1' });
        res.end(JSON.stringify({ method: req.method, url: req.url, bytes: n, auth: req.headers.authorization ?? null }));
      });
    });
    app = await startApp({ UPSTREAM_URL: up.url, HEADROOM_ADMIN_TOKEN: ADMIN });
  });

  after(async () => {
    if (app && app.child.exitCode === null) app.child.kill('SIGKILL');
    await up?.close();
  });

  test('health, live, ready and metrics', async () => {
    const h = await request(`${app.url}/health`);
    assert.equal(h.status, 200, h.text);
    const body = h.json();
    assert.equal(body.status, 'healthy');
    assert.ok(body.v8.heapSizeLimit > 0);
    assert.equal((await request(`${app.url}/health/live`)).status, 200);
    assert.equal((await request(`${app.url}/health/ready`)).status, 200);
    const m = await request(`${app.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.text, /^headroom_/m);
  });

  test('the app route: auth check, JSON body', async () => {
    assert.equal((await request(`${app.url}/app/echo`)).status, 401);
    const ok = await request(`${app.url}/app/echo?a=1`, { headers: { 'x-app-key': 'let-me-in' } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { ok: true, query: { a: '1' } });
    const post = await request(`${app.url}/app/echo`, {
      method: 'POST',
      headers: { 'x-app-key': 'let-me-in', 'content-type': 'application/json' },
      body: JSON.stringify({ x: 1 }),
    });
    assert.deepEqual(post.json(), { ok: true, body: { x: 1 } });
  });

  test('proxy: path and query kept under the mount, methods, escape refused', async () => {
    const r = await request(`${app.url}/api/echo/deep?x=4&y=a%2Fb`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-upstream'], '1');
    assert.equal(r.json().url, '/echo/deep?x=4&y=a%2Fb');
    // Next re-serialises request.url's query (docs/frameworks/next.md, sharp edges): %20 arrives as +.
    assert.equal((await request(`${app.url}/api/q?y=%20z`)).json().url, '/q?y=+z');
    const put = await request(`${app.url}/api/items/1`, { method: 'PUT', body: 'abc', headers: { 'content-type': 'text/plain' } });
    assert.deepEqual([put.json().method, put.json().bytes], ['PUT', 3]);
    const esc = await request(`${app.url}/api/%252e%252e/secret`);
    assert.equal(esc.status, 400);
    assert.equal(esc.json().error.code, 'HEADROOM_PATH_REJECTED');
  });

  test('proxy: 30 MB upload and 64 MB download stream through', async () => {
    const upload = await request(`${app.url}/api/upload`, { method: 'POST', body: Buffer.alloc(30 * 1024 * 1024, 2) });
    assert.equal(upload.json().bytes, 30 * 1024 * 1024);
    const big = await request(`${app.url}/api/big`);
    assert.equal(big.status, 200);
    assert.equal(big.body.length, 64 * 1024 * 1024);
  });

  test('admin API: 401 with a wrong token, memory-stats with the right one', async () => {
    const wrong = await request(`${app.url}/admin/memory-stats`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await request(`${app.url}/admin/memory-stats`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.json().memory);
    const ps = await request(`${app.url}/admin/proxy-stats`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.ok(ps.json().requests >= 4, ps.text);
  });

  test('SIGTERM: the app exits 0', async () => {
    const exited = new Promise<number | null>((r) => app.child.once('exit', (code) => r(code)));
    app.child.kill('SIGTERM');
    assert.equal(await exited, 0, app.output());
  });
});
