// examples/next runs as a user runs it: `npm start` is `next build && node server.mjs`, here the
// same two steps on the example's own folder, with node_modules/headroom-memory a copy of the
// package as the tests build it (test/helpers/install.ts), where `npm install` would put the packed
// "file:../.." (a copy, not a link: Turbopack resolves nothing outside its root), and next, react,
// react-dom and headroom's own dependencies resolved from the repository's node_modules. The build is skipped while one of exactly these example
// files is there (headroom-memory is a server external package, so its dist is not in the build).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { builtPackage } from '../helpers/install.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const EXAMPLE = join(ROOT, 'examples/next');
const NEXT_BIN = join(ROOT, 'node_modules/next/dist/bin/next');

function files(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n !== '.next' && n !== 'node_modules')
    .flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]))
    .sort();
}

/** Turbopack compiles nothing outside its root: when node_modules/next is a link to elsewhere (a git worktree), a folder holding both. */
function turbopackRoot(): string | undefined {
  const next = realpathSync(join(ROOT, 'node_modules/next'));
  if (next.startsWith(ROOT + sep)) return undefined;
  let root = ROOT;
  while (!next.startsWith(root + sep)) root = dirname(root);
  return root;
}

function build(env: NodeJS.ProcessEnv): void {
  const hash = createHash('sha256');
  for (const f of [...files(EXAMPLE), join(ROOT, 'package-lock.json')]) hash.update(relative(ROOT, f)).update('\0').update(readFileSync(f));
  const digest = hash.digest('hex');
  const stamp = join(EXAMPLE, '.next', 'headroom-build-hash');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  // CI=1: Next never tries to install packages it thinks are missing.
  const r = spawnSync(process.execPath, [NEXT_BIN, 'build'], {
    cwd: EXAMPLE,
    env: { ...env, CI: '1' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `next build failed:\n${r.stdout}\n${r.stderr}`);
  writeFileSync(stamp, digest);
}

/**
 * node_modules/headroom-memory: a fresh copy of the built package (replacing a copy a killed run
 * left), unless `npm install` put the package there; returns the undo.
 */
function placePackage(built: string): () => void {
  const modules = join(EXAMPLE, 'node_modules');
  const target = join(modules, 'headroom-memory');
  const marker = join(target, '.copied-by-test');
  if (existsSync(target) && !existsSync(marker)) return () => undefined;
  const madeModules = !existsSync(modules);
  rmSync(target, { recursive: true, force: true });
  cpSync(built, target, { recursive: true, filter: (src) => !src.startsWith(join(built, 'node_modules')) });
  writeFileSync(marker, '');
  return () => {
    rmSync(target, { recursive: true, force: true });
    if (madeModules) rmSync(modules, { recursive: true, force: true });
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test(
  'examples/next: next build && node server.mjs serves health, metrics, the proxy route and its own JSON route',
  { timeout: 300_000 },
  async () => {
    const seen: string[] = [];
    const upstream = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const removePackage = placePackage((await builtPackage()).dir);
    const root = turbopackRoot();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_OPTIONS: '',
      NODE_TEST_CONTEXT: undefined,
      NEXT_TELEMETRY_DISABLED: '1',
      ...(root ? { EXAMPLE_TURBOPACK_ROOT: root } : {}),
    };
    let child: ReturnType<typeof spawn> | undefined;
    try {
      build(env);
      const port = await freePort();
      child = spawn(process.execPath, ['server.mjs'], {
        cwd: EXAMPLE,
        env: { ...env, PORT: String(port), UPSTREAM_URL: upstreamUrl, APP_TOKEN: 't0k3n' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
      const exited = new Promise<number | null>((r) => child!.once('exit', r));
      const url = await waitFor(
        () => /listening on (http:\/\/\S+)/.exec(output)?.[1],
        `the "listening on" line (output: ${output})`,
        30_000,
        50,
      );

      const health = await request(`${url}/health`);
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json().status, 'healthy');
      assert.equal((await request(`${url}/health/ready`)).status, 200);
      const metrics = (await request(`${url}/metrics`)).text;
      assert.match(metrics, /^headroom_proxy_/m, 'the proxy from instrumentation.js is in the one registry');

      const proxied = await request(`${url}/api/items/3?fields=a,b`);
      assert.equal(proxied.status, 200, proxied.text);
      // Next re-serialises the query (docs/frameworks/next.md): "," arrives as %2C, the same value.
      assert.deepEqual(seen, ['GET /items/3?fields=a%2Cb']);
      const upload = await request(`${url}/api/upload`, { method: 'PUT', body: 'x'.repeat(100_000) });
      assert.equal(upload.status, 200, upload.text);
      assert.equal(seen.at(-1), 'PUT /upload');

      const note = { headers: { 'content-type': 'application/json' }, method: 'POST', body: JSON.stringify({ text: 'hi' }) };
      const denied = await request(`${url}/notes`, note);
      assert.equal(denied.status, 401, denied.text);
      const created = await request(`${url}/notes`, { ...note, headers: { ...note.headers, authorization: 'Bearer t0k3n' } });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.json(), { note: { text: 'hi', length: 2 } });
      assert.equal((await request(`${url}/admin/memory-stats`)).status, 404, 'the example mounts no admin route');

      // SIGTERM: headroom's gracefulShutdown closes everything and the process ends by itself.
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000, 'still running'))]);
      assert.equal(code, 0, output);
    } finally {
      child?.kill('SIGKILL');
      upstream.close();
      removePackage();
    }
  },
);
