// The Next.js adapter in a real Next app: test/fixtures/apps/next (the conformance fixture) is
// built by its prepare.mjs (`next build` against a tsc build of src/, skipped while a build of the
// same source is there) and started with its server.mjs, then exercised through real HTTP. The
// shared scenarios live in test/adapters/conformance; this file checks what is Next's own: the
// middleware (proxy.js) running before route handlers, the proxy route's own auth check and its
// streamed uploads, the image route with a real sharp resize, withHeadroom shedding and the
// in-flight count of aborted requests, and a complete answer to an in-flight request on SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { request } from '../../helpers/http.js';
import { waitFor } from '../../helpers/wait.js';
import { startUpstream, type Upstream } from '../../proxy/helpers.js';

const repo = path.resolve(import.meta.dirname, '../../..');
const fixture = path.join(repo, 'test/fixtures/apps/next');
const ADMIN = 'admin-token-0123456789abcdef';
const MiB = 1024 * 1024;

function prepare(): void {
  const r = spawnSync(process.execPath, ['prepare.mjs'], { cwd: fixture, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `prepare.mjs failed:\n${r.stdout}\n${r.stderr}`);
}

interface App {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

/** The fixture's server.mjs, or `argv` (e.g. `next start`) printing a line `listening` matches with the URL. */
function startApp(
  env: Record<string, string>,
  nodeOptions = '',
  argv = ['server.mjs'],
  listening = /HEADROOM_FIXTURE_LISTENING (http:\/\/\S+)/,
): Promise<App> {
  const child = spawn(process.execPath, argv, {
    cwd: fixture,
    env: {
      ...process.env,
      NODE_TEST_CONTEXT: undefined,
      NODE_OPTIONS: nodeOptions,
      NEXT_TELEMETRY_DISABLED: '1',
      PORT: '0',
      HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start:\n${out}`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = listening.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, exited, output: () => out });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => reject(new Error(`the app exited with ${code}:\n${out}`)));
  });
}

async function stop(app: App | undefined): Promise<void> {
  if (!app || app.child.exitCode !== null) return;
  app.child.kill('SIGKILL');
  await app.exited;
}

/** POSTs `size` bytes with Transfer-Encoding: chunked (no content-length), as browsers stream uploads. */
function chunkedUpload(url: string, size: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', ...headers } },
      (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (d: string) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode!, body }));
      },
    );
    req.on('error', reject);
    const chunk = Buffer.alloc(256 * 1024, 'u');
    let sent = 0;
    const write = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

const inFlight = async (app: App): Promise<number> =>
  Number(/^headroom_app_requests_in_flight (\S+)$/m.exec((await request(`${app.url}/metrics`)).text)?.[1]);

describe('Next.js adapter in a built Next app', { timeout: 300_000 }, () => {
  let up: Upstream;
  let photo: Buffer;

  before(async () => {
    prepare();
    photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3a7' } })
      .png()
      .toBuffer();
    up = await startUpstream((req, res) => {
      const url = new URL(req.url!, 'http://up');
      if (url.pathname === '/big') {
        const total = 64 * MiB;
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
      if (url.pathname === '/photo.png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(photo.length) });
        return void res.end(photo);
      }
      if (url.pathname === '/gz') {
        // Gzips whenever the request allows it, as most servers do.
        const body = Buffer.from(JSON.stringify({ acceptEncoding: req.headers['accept-encoding'] ?? null }));
        const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding']));
        res.writeHead(200, { 'content-type': 'application/json', ...(gzip && { 'content-encoding': 'gzip' }) });
        return void res.end(gzip ? gzipSync(body) : body);
      }
      if (url.pathname === '/slow') {
        const timer = setTimeout(() => res.end('late'), 20_000);
        return void res.once('close', () => clearTimeout(timer));
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': '1' });
        res.end(JSON.stringify({ method: req.method, url: req.url, bytes: n, auth: req.headers.authorization ?? null }));
      });
    });
  });

  after(() => up?.close());

  describe('default app', () => {
    let app: App;
    before(async () => {
      app = await startApp({ UPSTREAM_URL: up.url, HEADROOM_ADMIN_TOKEN: ADMIN, IMAGE_ORIGIN: up.url, SHUTDOWN_DELAY: '300' });
    });
    after(() => stop(app));

    test('health, live, ready and metrics', async () => {
      const h = await request(`${app.url}/health`);
      assert.equal(h.status, 200, h.text);
      assert.equal(h.json().status, 'healthy');
      assert.ok(h.json().v8.heapSizeLimit > 0);
      // /health/live exports the factory's answer itself (export const GET = createHealthRoute('live')); Next.js answers HEAD with it.
      const live = await request(`${app.url}/health/live`);
      assert.equal(live.status, 200, live.text);
      assert.equal(live.json().status, 'ok');
      const liveHead = await request(`${app.url}/health/live`, { method: 'HEAD' });
      assert.equal(liveHead.status, 200);
      assert.equal(liveHead.text, '');
      assert.equal((await request(`${app.url}/health/ready`)).status, 200);
      const m = await request(`${app.url}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.text, /^headroom_app_requests_in_flight 0$/m);
      assert.match(m.text, /^headroom_proxy_/m);
    });

    test("the app's routes; its middleware (proxy.js) runs before their handlers", async () => {
      assert.deepEqual((await request(`${app.url}/app/hello`)).json(), { hello: 'world' });
      const echo = await request(`${app.url}/app/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ a: [1, 'b'] }),
      });
      assert.deepEqual(echo.json(), { received: { a: [1, 'b'] } });
      // Not JSON: the handler would fail with a 500, so a 401 means it never ran.
      const denied = await request(`${app.url}/app/echo`, { method: 'POST', headers: { 'x-deny': '1' }, body: 'not json' });
      assert.equal(denied.status, 401, denied.text);
      assert.deepEqual(denied.json(), { error: 'denied by app' });
      for (const p of ['/health', '/health/ready', '/metrics']) {
        assert.equal((await request(`${app.url}${p}`, { headers: { 'x-deny': '1' } })).status, 200, p);
      }
    });

    test('proxy: path and query kept under the mount, methods, escape refused, auth before the upstream', async () => {
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
      const seen = up.received.length;
      for (const method of ['GET', 'POST']) {
        const d = await request(`${app.url}/api/echo`, { method, headers: { 'x-deny': '1' }, body: method === 'POST' ? 'x' : undefined });
        assert.equal(d.status, 401, `${method}: ${d.text}`);
        assert.deepEqual(d.json(), { error: 'denied by app' });
      }
      assert.equal(up.received.length, seen, 'a denied request never reaches the upstream');
    });

    test('proxy: 30 MB uploads (with a length and chunked) and a 64 MB download stream through whole', async () => {
      const upload = await request(`${app.url}/api/upload`, { method: 'POST', body: Buffer.alloc(30 * MiB, 2) });
      assert.equal(upload.json().bytes, 30 * MiB);
      // With a middleware matching /api, Next would hand the route the first 10 MB only, with a 200.
      const chunked = await chunkedUpload(`${app.url}/api/upload`, 30 * MiB);
      assert.equal(chunked.status, 200, chunked.body);
      assert.equal(JSON.parse(chunked.body).bytes, 30 * MiB);
      const big = await request(`${app.url}/api/big`);
      assert.equal(big.status, 200);
      assert.equal(big.body.length, 64 * MiB);
    });

    test('image route: a real resize by sharp from an allowed origin, behind the middleware', async () => {
      const src = encodeURIComponent(`${up.url}/photo.png`);
      const r = await request(`${app.url}/image?url=${src}&w=64&format=webp`);
      assert.equal(r.status, 200, `${r.text}\n${app.output()}`);
      assert.equal(r.headers['content-type'], 'image/webp');
      const meta = await sharp(r.body).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 64, 48]);
      const seen = up.received.length;
      const denied = await request(`${app.url}/image?url=${src}&w=32&format=png`, { headers: { 'x-deny': '1' } });
      assert.equal(denied.status, 401, denied.text);
      assert.equal(up.received.length, seen, 'the origin was not asked');
      const other = await request(`${app.url}/image?url=${encodeURIComponent('http://127.0.0.2:9/x.png')}&w=32`);
      assert.equal(other.status, 403, other.text);
    });

    test('compression: the upstream is asked for identity (Next.js drops Content-Encoding and compresses itself); the dashboard is served whole', async () => {
      // request() decodes the body by the Content-Encoding the response declares, as a browser does.
      for (const ae of ['gzip, deflate, br', 'identity']) {
        const r = await request(`${app.url}/api/gz`, { headers: { 'accept-encoding': ae } });
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.text), { acceptEncoding: 'identity' }, `client accept-encoding ${ae}`);
      }
      const dash = await request(`${app.url}/admin/dashboard`, {
        headers: { 'accept-encoding': 'gzip', authorization: `Bearer ${ADMIN}` },
      });
      assert.equal(dash.status, 200, dash.text);
      assert.match(dash.text, /<html/i, 'HTML, not gzip bytes without their Content-Encoding');
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

    test('requests are counted in flight on their Node.js response: withHeadroom hands the Response on untouched', async () => {
      const r = await request(`${app.url}/__test/tracking`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { untouched: true });
    });

    test('aborted requests (an app route and a proxied one) leave the in-flight count', async () => {
      for (const p of ['/app/slow?ms=20000', '/api/slow']) {
        const req = httpRequest(`${app.url}${p}`, { agent: false });
        req.on('error', () => undefined);
        req.end();
        await waitFor(async () => (await inFlight(app)) === 1, `${p} in flight`);
        req.destroy();
        await waitFor(async () => (await inFlight(app)) === 0, `${p} released after the abort`, 3000);
      }
    });

    test('SIGTERM: ready 503, an in-flight request gets its whole answer, exit 0 by itself', async () => {
      const slow = request(`${app.url}/app/slow?ms=1500`);
      await waitFor(async () => (await inFlight(app)) === 1, 'the slow request in flight');
      app.child.kill('SIGTERM');
      const ready = await waitFor(async () => {
        const r = await request(`${app.url}/health/ready`);
        return r.status === 503 ? r : undefined;
      }, 'ready 503');
      assert.equal(ready.json().draining, true);
      const finished = await slow;
      assert.equal(finished.status, 200);
      assert.deepEqual(finished.json(), { slept: 1500 });
      assert.equal(await app.exited, 0, app.output());
    });
  });

  describe('under next start', () => {
    let app: App | undefined;
    after(() => stop(app));

    test('requests are counted on their Node.js response once register() has run, and all leave the count', async () => {
      const next = path.join(repo, 'node_modules/next/dist/bin/next');
      // Port 0: Next prints the port it got (a port picked free beforehand could be taken first).
      app = await startApp(
        { UPSTREAM_URL: up.url, NODE_ENV: 'production' },
        '',
        [next, 'start', '-p', '0', '-H', '127.0.0.1'],
        /Local:\s+(http:\/\/\S+)/,
      );
      // next start listens before it runs instrumentation's register() (on the first request): a
      // request that reached the server before the Headroom existed is counted by its body.
      const first = await request(`${app.url}/__test/tracking`);
      assert.equal(first.status, 200, first.text);
      for (let i = 0; i < 3; i++) assert.deepEqual((await request(`${app.url}/__test/tracking`)).json(), { untouched: true });
      await waitFor(async () => (await inFlight(app!)) === 0, 'every request left the in-flight count');
    });
  });

  describe('small heap, low thresholds', () => {
    let app: App;
    before(async () => {
      app = await startApp(
        {
          UPSTREAM_URL: up.url,
          HEADROOM_ADMIN_TOKEN: ADMIN,
          MEMORY_WARNING_THRESHOLD: '0.45',
          MEMORY_CRITICAL_THRESHOLD: '0.6',
          MEMORY_HYSTERESIS: '0.1',
          MEMORY_SAMPLE_INTERVAL: '100',
        },
        '--max-old-space-size=192 --expose-gc',
      );
    });
    after(() => stop(app));

    test('withHeadroom and the proxy route shed with 503 + Retry-After while critical; /__test is exempt', async () => {
      const h = (await request(`${app.url}/health`)).json();
      assert.equal(h.status, 'healthy', `starts healthy at ${h.v8.heapUsedPercent} %`);
      const mb = Math.ceil((0.68 * h.v8.heapSizeLimit - h.v8.usedHeapSize) / MiB);
      assert.equal((await request(`${app.url}/__test/alloc?mb=${mb}`, { method: 'POST' })).status, 200);
      await waitFor(async () => (await request(`${app.url}/health/ready`)).status === 503, 'ready 503', 3000);
      const shed = await request(`${app.url}/app/hello`);
      assert.equal(shed.status, 503, shed.text);
      assert.ok(Number(shed.headers['retry-after']) > 0);
      assert.equal(shed.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
      const proxied = await request(`${app.url}/api/echo`);
      assert.equal(proxied.status, 503, proxied.text);
      assert.equal((await request(`${app.url}/health/live`)).status, 200);
      assert.equal((await request(`${app.url}/metrics`)).status, 200);
      const freed = await request(`${app.url}/__test/free`, { method: 'POST' });
      assert.deepEqual(freed.json(), { retainedMb: 0 });
      await request(`${app.url}/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      await waitFor(async () => (await request(`${app.url}/health/ready`)).status === 200, 'ready again', 5000);
      assert.deepEqual((await request(`${app.url}/app/hello`)).json(), { hello: 'world' });
    });
  });
});
