// Request memory accounting on real Express 5 and Fastify apps under concurrent load: each request
// is charged its captured bodies plus what a handler charges after an await (found through
// AsyncLocalStorage), the per-request charges add up to the gauge, and everything is released —
// aborted requests included — when the requests end.
import assert from 'node:assert/strict';
import { request, type ClientRequest } from 'node:http';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import {
  accountingMiddleware,
  createBodyCapture,
  createRequestAccounting,
  registerRequestAccountingMetrics,
} from '../../../src/adapters/express/index.js';
import { accountRequests } from '../../../src/adapters/fastify/index.js';
import type { RequestAccounting, RequestSummary } from '../../../src/log/accounting.js';
import type { BodyCapture } from '../../../src/log/capture.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { listenFastify, listenLocal } from '../../helpers/net.js';
import { waitFor } from '../../helpers/wait.js';

const HANGING = 48;
const ECHOES = 32;

interface Stack {
  url: string;
  close(): Promise<void>;
}

/** /hang?n=&extra= writes n bytes of text, charges `extra` after an await, and never ends. */
async function hang(accounting: RequestAccounting, n: number, extra: number, write: (s: string) => void): Promise<void> {
  write('x'.repeat(n));
  await tick();
  assert.ok(accounting.charge(extra), 'charge() found the request after an await');
}

async function expressStack(accounting: RequestAccounting, capture: BodyCapture): Promise<Stack> {
  const app = express();
  app.use(accountingMiddleware(accounting, capture));
  app.use(express.json());
  app.post('/echo', (req, res) => void res.json(req.body));
  app.get('/hang', async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    await hang(accounting, Number(req.query.n), Number(req.query.extra), (s) => res.write(s));
  });
  const local = await listenLocal(app);
  return {
    url: local.url,
    async close() {
      await local.close();
      await capture.close();
    },
  };
}

async function fastifyStack(accounting: RequestAccounting, capture: BodyCapture): Promise<Stack> {
  const app = Fastify();
  await app.register(accountRequests, { accounting, capture });
  app.post('/echo', async (req) => req.body);
  app.get('/hang', async (req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain' });
    const q = req.query as { n: string; extra: string };
    await hang(accounting, Number(q.n), Number(q.extra), (s) => reply.raw.write(s));
  });
  return listenFastify(app);
}

function echo(url: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false }, (res) =>
      res.resume().on('end', resolve),
    );
    req.on('error', reject).end(body);
  });
}

for (const [name, start, hangRoute] of [
  ['express', expressStack, '/hang'],
  ['fastify', fastifyStack, '/hang'],
] as const) {
  test(`${name}: per-request charges add up to the gauge under concurrent load, and all is released`, { timeout: 60_000 }, async () => {
    await assertNoLeakedHandles(async () => {
      const heavy: RequestSummary[] = [];
      const accounting = createRequestAccounting({ warnBytes: '4KiB', onHeavy: (s) => heavy.push(s) });
      const capture = createBodyCapture({ onCapture: () => {} });
      const registry = new Registry();
      registerRequestAccountingMetrics(registry, accounting);
      const stack = await start(accounting, capture);
      const clients: ClientRequest[] = [];
      try {
        let expected = 0;
        let expectedCapture = 0;
        for (let i = 0; i < HANGING; i++) {
          const n = 100 + ((i * 997) % 12_000); // some above the 8 KiB cap
          const extra = 1000 * (i % 7);
          expected += Math.min(n, 8192) + extra;
          expectedCapture += Math.min(n, 8192);
          const req = request(`${stack.url}/hang?n=${n}&extra=${extra}`, { agent: false }, (res) => res.resume().on('error', () => {}));
          req.on('error', () => {}).end();
          clients.push(req);
        }
        // Requests that come and go meanwhile: charged, then released.
        const body = JSON.stringify({ fill: 'y'.repeat(20_000) });
        await Promise.all(Array.from({ length: ECHOES }, () => echo(stack.url, body)));
        await waitFor(() => accounting.held() === expected, `all ${HANGING} hanging requests charged`, 10_000);

        const active = accounting.active();
        assert.equal(active.length, HANGING);
        const sum = active.reduce((s, l) => s + l.held, 0);
        assert.ok(Math.abs(sum - accounting.held()) <= accounting.held() * 0.01, `sum ${sum} vs gauge ${accounting.held()}`);
        assert.equal(sum, accounting.held());
        assert.equal(capture.stats().held, expectedCapture);
        assert.match(await registry.metrics(), new RegExp(`^headroom_request_bytes_held ${expected}$`, 'm'));

        for (const c of clients) c.destroy();
        await waitFor(() => accounting.active().length === 0, 'every aborted request ended');
        assert.equal(accounting.held(), 0);
        assert.equal(capture.stats().held, 0);
        const routes = Object.fromEntries(accounting.routes().map((r) => [r.route, r]));
        assert.equal(routes[hangRoute]?.requests, HANGING);
        assert.equal(routes[hangRoute]?.charged, expected);
        assert.equal(routes['/echo']?.requests, ECHOES);
        assert.equal(routes['/echo']?.charged, ECHOES * 2 * 8192, 'request and response bodies, each cut at 8 KiB');
        assert.equal(routes['/echo']?.maxPeak, 2 * 8192);
        assert.ok(heavy.length > 0 && heavy.every((s) => s.peak > 4096));
        const metrics = await registry.metrics();
        assert.match(metrics, /^headroom_request_bytes_held 0$/m);
        assert.match(metrics, new RegExp(`^headroom_requests_accounted_total\\{route="/echo"\\} ${ECHOES}$`, 'm'));
      } finally {
        for (const c of clients) c.destroy();
        await stack.close();
        await accounting.close();
      }
    });
  });
}

test('createRequestAccounting checks its options; charge() outside a request charges nothing', async () => {
  assert.throws(() => createRequestAccounting({ warnBytes: 'huge' }), /warnBytes="huge": must be a byte size/);
  assert.throws(() => createRequestAccounting({ onHeavy: 1 as never }), /onHeavy must be a function/);
  const a = createRequestAccounting();
  assert.equal(a.charge(10), false);
  const l = a.open();
  a.run(l, () => a.charge(100));
  l.charge(-500); // a double release cannot drive the total negative
  assert.equal(a.held(), 0);
  l.charge(40);
  assert.equal(l.end('/r').peak, 100);
  assert.equal(a.held(), 0);
  await a.close();
});

test('Express: a route under a mount path with parameters is named by its template, not by the ids in the URL', async () => {
  await assertNoLeakedHandles(async () => {
    const accounting = createRequestAccounting();
    const app = express();
    app.use(accountingMiddleware(accounting));
    // A mount with a parameter first matches every first segment (/files too): not a template of
    // the routes of another router.
    const tenant = express.Router();
    tenant.get('/info', (_req, res) => void res.end('ok'));
    app.use('/:tenant', tenant);
    const posts = express.Router();
    posts.get('/posts/:pid', (_req, res) => void res.end('ok'));
    const inner = express.Router();
    inner.use('/teams/:team', posts);
    app.use('/users/:id', posts);
    app.use('/orgs/:org', inner);
    app.use('/static', posts);
    // A router at the root holds mounts of its own (the path it takes is empty).
    const root = express.Router();
    const auth = express.Router();
    auth.get('/login/:who', (_req, res) => void res.end('ok'));
    root.use('/auth', auth);
    app.use(root);
    const files = express.Router();
    files.get('/:id', (_req, res) => void res.end('ok'));
    app.use('/files', files);
    // Paths as the app wrote them: an array, a RegExp (not 'unmatched', which is for 404s).
    app.get(['/a', '/b'], (_req, res) => void res.end('ok'));
    app.get(/^\/re\d+$/, (_req, res) => void res.end('ok'));
    const local = await listenLocal(app);
    try {
      const paths = ['/users/1000/posts/1', '/users/1001/posts/2', '/orgs/a/teams/b/posts/3', '/static/posts/4', '/auth/login/x'];
      for (const path of [...paths, '/acme/info', '/files/123', '/b', '/re42'])
        assert.equal((await fetch(`${local.url}${path}`)).status, 200, path);
      await waitFor(() => accounting.active().length === 0, 'every request ended');
      assert.deepEqual(
        accounting
          .routes()
          .map((r) => [r.route, r.requests])
          .sort(),
        [
          ['/:tenant/info', 1],
          ['/^\\/re\\d+$/', 1],
          ['/a | /b', 1],
          ['/auth/login/:who', 1],
          ['/files/:id', 1],
          ['/orgs/:org/teams/:team/posts/:pid', 1],
          ['/static/posts/:pid', 1],
          ['/users/:id/posts/:pid', 2],
        ],
      );
    } finally {
      await local.close();
      await accounting.close();
    }
  });
});

test("accountingMiddleware's route function: not a function is refused; one that throws or returns a non-string leaves the template, and the process stays up", async () => {
  assert.throws(
    () => accountingMiddleware(createRequestAccounting(), undefined, 'GET /x' as unknown as () => string),
    /accountingMiddleware\(accounting, capture, route\): route must be a function \(req\) => string \| undefined; got string$/,
  );
  await assertNoLeakedHandles(async () => {
    const accounting = createRequestAccounting();
    const answers: unknown[] = [
      () => {
        throw new Error('route lookup failed');
      },
      () => 42,
      () => 'named',
    ];
    let next = 0;
    const app = express();
    app.use(accountingMiddleware(accounting, undefined, () => (answers[next++] as () => string)()));
    app.get('/items/:id', (_req, res) => void res.json({ ok: true }));
    const local = await listenLocal(app);
    try {
      for (let i = 0; i < answers.length; i++) {
        const res = await fetch(`${local.url}/items/${i}`);
        assert.equal(res.status, 200);
        await res.text();
      }
      const routes = await waitFor(() => {
        const r = accounting.routes();
        return r.reduce((n, x) => n + x.requests, 0) === answers.length ? r : undefined;
      }, 'every request ended');
      assert.deepEqual(Object.fromEntries(routes.map((r) => [r.route, r.requests])), { '/items/:id': 2, named: 1 });
      assert.equal(accounting.held(), 0);
    } finally {
      await local.close();
      await accounting.close();
    }
  });
});

test('over HTTP/2 a reply sent with end(chunk) is captured and charged once (Node writes it through write())', async () => {
  const { connect } = await import('node:http2');
  const records: { bytes: number; body: string | undefined }[] = [];
  const accounting = createRequestAccounting({});
  const capture = createBodyCapture({ onCapture: (r) => records.push({ bytes: r.response.bytes, body: r.response.body }) });
  const app = Fastify({ http2: true });
  await app.register(accountRequests, { accounting, capture });
  app.get('/text', async (_req, reply) => reply.type('text/plain').send('hello h2'));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const client = connect(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const s = client.request({ ':path': '/text' });
      let d = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (d += c));
      s.on('end', () => resolve(d));
      s.on('error', reject);
      s.end();
    });
    assert.equal(text, 'hello h2');
    await waitFor(() => records.length === 1, 'the capture record');
    assert.deepEqual(records[0], { bytes: 8, body: 'hello h2' });
    assert.equal(accounting.routes().find((r) => r.route === '/text')?.maxPeak, 8);
  } finally {
    client.close();
    await app.close();
    await capture.close();
  }
});
