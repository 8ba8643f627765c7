// headroom-memory/express in a real Express 5 app: the middleware's routes, shedding and in-flight
// count, the proxy under every way of mounting it, the consumed-body refusal, the image route's
// wiring, graceful shutdown and close() leaving nothing behind.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import {
  continueOnRead,
  headroom,
  HeadroomError,
  isHeadroomError,
  registerProxyMetrics,
  type ExpressHeadroom,
} from '../../../src/adapters/express/index.js';
import { request } from '../../helpers/http.js';
import { CONTINUE, rawRequest, uploadOnContinue } from '../../helpers/raw-http.js';
import { portClosed } from '../../helpers/net.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { fakeMemory } from '../../monitor/helpers.js';

const TOKEN = 'express-adapter-admin-token-0123';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/** Records what reached it: "METHOD url bodyBytes". */
async function startUpstream() {
  const seen: string[] = [];
  const up = await listen((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${n}`);
      if (req.url?.startsWith('/hold')) return; // answered never: a request a client abandons
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url }));
    });
  });
  return { ...up, seen };
}

/** Each client path is answered 200 and reaches the upstream as exactly "METHOD url bodyBytes". */
async function expectUpstream(url: string, upstream: { seen: string[] }, expect: [client: string, seen: string][]): Promise<void> {
  for (const [client, seen] of expect) {
    const from = upstream.seen.length;
    const r = await request(`${url}${client}`);
    assert.equal(r.status, 200, `${client}: ${r.text}`);
    assert.deepEqual(upstream.seen.slice(from), [seen], client);
  }
}

describe('headroom-memory/express', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => closeServer(upstream.server));

  async function app(setup: (app: express.Express, hr: ExpressHeadroom) => void, options: Parameters<typeof headroom>[0] = {}) {
    const hr = headroom({ proxy: { upstreamUrl: upstream.url, closeTimeout: 500 }, adminToken: TOKEN, ...options });
    const a = express();
    setup(a, hr);
    const server = a.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      hr,
      server,
      close: async () => {
        await closeServer(server);
        await hr.close();
      },
    };
  }

  it('the bare mount path maps as the bare prefix does: /api → the base path, /api/ → the base path and /', async () => {
    const t = await app((a, hr) => a.use('/api', hr.proxy()), { proxy: { upstreamUrl: `${upstream.url}/base`, closeTimeout: 500 } });
    try {
      const expect: [string, string][] = [
        ['/api', 'GET /base 0'],
        ['/API?q=1', 'GET /base?q=1 0'],
        ['/api/', 'GET /base/ 0'],
        ['/api/?q=1', 'GET /base/?q=1 0'],
        ['/api/x', 'GET /base/x 0'],
      ];
      await expectUpstream(t.url, upstream, expect);
    } finally {
      await t.close();
    }
  });

  it('keeps path and query exactly under any mount path; a body a parser read is refused, never forwarded', async () => {
    const t = await app((a, hr) => {
      a.use(hr.middleware());
      a.use('/api', hr.proxy());
      a.use('/v1/upstream', hr.proxy()); // mount path other than the proxy's prefix
      const tenant = express.Router({ mergeParams: true });
      tenant.use(hr.proxy());
      a.use('/tenants/:id/api', tenant); // nested router with a parameter
      // A body logger that listens and calls next() at once: the chunks would go to it, not upstream.
      a.use('/logged', (req, _res, next) => {
        req.on('data', () => undefined);
        next();
      });
      a.use('/logged', hr.proxy());
      a.use(express.json());
      a.use('/parsed', hr.proxy()); // wrong: after the body parser
      a.use(hr.proxy()); // unmounted: takes /api… by the proxy's prefix, passes the rest on
      a.get('/own', (_req, res) => void res.json({ own: true }));
    });
    try {
      const expect: [string, string][] = [
        ['/api/echo?x=4&y=%2F', 'GET /echo?x=4&y=%2F 0'],
        ['/api', 'GET / 0'],
        ['/api?q=1', 'GET /?q=1 0'],
        ['/API/Echo?Case=1', 'GET /Echo?Case=1 0'], // Express mounts match case-insensitively
        ['/v1/upstream/a%20b/c?z=%26', 'GET /a%20b/c?z=%26 0'],
        ['/tenants/7/api/items?page=2', 'GET /items?page=2 0'],
      ];
      await expectUpstream(t.url, upstream, expect);
      const from = upstream.seen.length;
      const post = await request(`${t.url}/api/up`, { method: 'POST', body: 'y'.repeat(70_000) });
      assert.equal(post.status, 200);
      const parsed = await request(`${t.url}/parsed/up`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(parsed.status, 500);
      assert.equal(parsed.json().error.code, 'HEADROOM_BODY_CONSUMED');
      assert.match(parsed.json().error.message, /mount the headroom proxy before body parsers/);
      const logged = await request(`${t.url}/logged/up`, { method: 'POST', body: 'z'.repeat(100_000) });
      assert.equal(logged.status, 500, logged.text);
      assert.equal(logged.json().error.code, 'HEADROOM_BODY_CONSUMED');
      assert.deepEqual(upstream.seen.slice(from), ['POST /up 70000'], 'neither the parsed nor the listened-to body reached the upstream');
      assert.deepEqual((await request(`${t.url}/own`)).json(), { own: true }, 'the unmounted proxy passes other paths on');
      // Sent as is (a URL parser would resolve the dots before they leave the client).
      const { port } = new URL(t.url);
      const escape = await new Promise<number>((resolve, reject) =>
        httpRequest({ host: '127.0.0.1', port, path: '/api/a/%2e%2e/%2e%2e/secret', agent: false }, (r) => {
          r.resume();
          resolve(r.statusCode!);
        })
          .on('error', reject)
          .end(),
      );
      assert.equal(escape, 400, 'the proxy path rules still apply under a mount path');
      // Absolute-form targets (RFC 9112 §3.2.2): Express keeps their scheme and host when it cuts a mount.
      const host = `127.0.0.1:${port}`;
      for (const [target, seen] of [
        [`http://${host}/api/echo?x=4`, 'GET /echo?x=4 0'],
        [`http://${host}/api?q=1`, 'GET /?q=1 0'],
        [`http://${host}/tenants/7/api/items?page=2`, 'GET /items?page=2 0'],
      ] as const) {
        const at = upstream.seen.length;
        const r = await rawRequest(t.url, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.equal(r.status, 200, `${target}: ${r.text}`);
        assert.deepEqual(upstream.seen.slice(at), [seen], target);
      }
      const at = upstream.seen.length;
      const forged = await rawRequest(t.url, `GET http://evil.example/api/echo HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(forged.status, 400, forged.text);
      assert.match(forged.text, /names evil\.example but the Host header/);
      assert.equal(upstream.seen.length, at);
    } finally {
      await t.close();
    }
  });

  it('answers health, metrics and the admin API (rate-limited per req.ip, trust proxy honoured) and never sheds them', async () => {
    const mem = fakeMemory();
    const t = await app(
      (a, hr) => {
        a.set('trust proxy', true);
        a.use(hr.middleware());
        a.use((req, res, next) => (req.headers['x-deny'] ? void res.status(401).end() : next()));
        a.get('/own', (_req, res) => void res.json({ own: true }));
      },
      { adminRateLimit: 2, monitor: { sampler: mem.sampler, autoStart: false } },
    );
    try {
      t.hr.headroom.monitor.sampleNow();
      assert.equal((await request(`${t.url}/health`)).json().status, 'healthy');
      assert.equal((await request(`${t.url}/health/live`)).status, 200);
      assert.equal((await request(`${t.url}/health/ready`)).status, 200);
      const head = await request(`${t.url}/health`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      const metrics = await request(`${t.url}/metrics`, { headers: { 'x-deny': '1' } });
      assert.equal(metrics.status, 200, 'mounted before the auth middleware: open to the scraper');
      assert.match(metrics.text, /^headroom_app_requests_in_flight 0$/m);
      assert.match(metrics.text, /^headroom_proxy_requests_total/m);

      const as = (client: string, authorization = `Bearer ${TOKEN}`) =>
        request(`${t.url}/admin/memory-stats`, { headers: { authorization, 'x-forwarded-for': client } });
      assert.equal((await as('10.0.0.1')).status, 200);
      assert.equal((await as('10.0.0.1', 'Bearer wrong-token-wrong-token')).status, 401);
      const limited = await as('10.0.0.1');
      assert.equal(limited.status, 429, 'the third request of one client in a minute');
      assert.ok(limited.headers['retry-after']);
      assert.equal((await as('10.0.0.2')).status, 200, 'another client (req.ip from X-Forwarded-For) has its own window');
      const post = await request(`${t.url}/admin/memory-stats`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '10.0.0.3' },
      });
      assert.equal(post.status, 405);

      mem.setHeapRatio(0.9);
      t.hr.headroom.monitor.sampleNow();
      const shed = await request(`${t.url}/own`);
      assert.equal(shed.status, 503);
      assert.equal(shed.headers['retry-after'], '5');
      assert.equal(shed.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
      assert.equal((await request(`${t.url}/health`)).status, 503);
      assert.equal((await request(`${t.url}/health/ready`)).status, 503);
      assert.equal((await request(`${t.url}/health/live`)).status, 200);
      assert.equal((await request(`${t.url}/metrics`)).status, 200);
      assert.equal((await as('10.0.0.4')).status, 200);
      mem.setHeapRatio(0.82); // inside the hysteresis band: still critical
      t.hr.headroom.monitor.sampleNow();
      assert.equal((await request(`${t.url}/own`)).status, 503);
      mem.setHeapRatio(0.5);
      t.hr.headroom.monitor.sampleNow();
      assert.equal((await request(`${t.url}/own`)).status, 200);
      assert.match((await request(`${t.url}/metrics`)).text, /^headroom_app_requests_shed_total 2$/m);
    } finally {
      await t.close();
    }
  });

  it('shedExempt matches in any case, as Express routes do (unless case sensitive routing is on); hr.middleware() and hr.handler(app)', async () => {
    for (const [form, sensitive] of [
      ['middleware', false],
      ['handler', false],
      ['middleware', true],
      ['handler', true],
    ] as const) {
      const mem = fakeMemory();
      const hr = headroom({
        monitor: { sampler: mem.sampler, warningThreshold: 0.7, criticalThreshold: 0.85, autoStart: false },
        shedExempt: ['/Webhooks'],
      });
      const a = express();
      if (sensitive) a.enable('case sensitive routing'); // before the first route: Express's router takes it then
      if (form === 'middleware') a.use(hr.middleware());
      a.post('/webhooks/:id', (req, res) => void res.send(`hook ${req.params.id}`));
      a.post('/other', (_req, res) => void res.send('other'));
      const t = await listen(form === 'handler' ? hr.handler(a) : a);
      try {
        mem.setHeapRatio(0.9);
        hr.headroom.monitor.sampleNow();
        const which = `${form}, case ${sensitive ? 'sensitive' : 'insensitive'}`;
        if (!sensitive) {
          for (const path of ['/webhooks/1', '/WEBHOOKS/2', '/Webhooks/3']) {
            const r = await request(`${t.url}${path}`, { method: 'POST' });
            assert.equal(r.status, 200, `${which} ${path}: ${r.text}`);
          }
        } else {
          assert.equal((await request(`${t.url}/webhooks/4`, { method: 'POST' })).status, 503, `${which}: shed (exempt is /Webhooks)`);
          assert.equal(
            (await request(`${t.url}/Webhooks/5`, { method: 'POST' })).status,
            404,
            `${which}: exempt as written; no such route`,
          );
        }
        assert.equal((await request(`${t.url}/other`, { method: 'POST' })).status, 503, `${which}: the rest is shed`);
      } finally {
        await closeServer(t.server);
        await hr.close();
      }
    }
  });

  it('routes can move or be turned off', async () => {
    const t = await app(
      (a, hr) => {
        a.use('/ops', hr.middleware());
        a.get('/metrics', (_req, res) => void res.send("the app's own"));
      },
      { routes: { metrics: false, admin: '/control', health: '/hc' }, monitor: { autoStart: false } },
    );
    try {
      assert.equal((await request(`${t.url}/ops/hc/ready`)).status, 200);
      const stats = await request(`${t.url}/ops/control/memory-stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(stats.status, 200, stats.text);
      assert.equal((await request(`${t.url}/metrics`)).text, "the app's own");
      assert.equal((await request(`${t.url}/ops/metrics`)).status, 404);
    } finally {
      await t.close();
    }
  });

  it('counts requests in flight until their response closes, aborted ones included', async () => {
    const t = await app((a, hr) => {
      a.use(hr.middleware());
      a.use('/api', hr.proxy());
      a.get('/never', () => undefined); // a handler that never answers
    });
    try {
      const inFlight = () => t.hr.headroom.requests().inFlight;
      for (const path of ['/never', '/api/hold']) {
        const req = httpRequest(`${t.url}${path}`, { agent: false });
        req.on('error', () => undefined);
        req.end();
        await waitFor(() => inFlight() === 1 && (path === '/never' || t.hr.headroom.proxy!.stats().inFlight === 1), `${path} in flight`);
        req.destroy();
        await waitFor(() => inFlight() === 0 && t.hr.headroom.proxy!.stats().inFlight === 0, `${path} released after the abort`);
      }
    } finally {
      await t.close();
    }
  });

  it('shutdown(server): ready 503 (requests still served for the delay), then new requests refused while in-flight ones finish; then everything is closed', async () => {
    await assertNoLeakedHandles(async () => {
      let release!: () => void;
      const t = await app((a, hr) => {
        a.use(hr.middleware());
        a.use('/api', hr.proxy());
        a.get('/slow', (_req, res) => void (release = () => res.json({ done: true })));
      });
      let closedApp = false;
      const stop = t.hr.shutdown(t.server, { signals: [], delay: 300, close: () => void (closedApp = true) });
      const slow = request(`${t.url}/slow`);
      await waitFor(() => t.hr.headroom.requests().inFlight === 1, 'the slow request in flight');
      assert.equal((await request(`${t.url}/api/x`)).status, 200);
      const stopped = stop();
      const ready = await request(`${t.url}/health/ready`);
      assert.equal(ready.status, 503);
      assert.equal(ready.json().draining, true);
      // During the delay the load balancer may still send: those requests are served.
      assert.equal((await request(`${t.url}/api/x`)).status, 200);
      assert.equal(t.hr.headroom.isDraining(), false);
      await waitFor(() => t.hr.headroom.isDraining(), 'refusing once the delay is over');
      // Then the server stops accepting too: a new request gets 503 or no connection, never the app.
      const refused = await request(`${t.url}/api/x`).catch((err: NodeJS.ErrnoException) => err);
      if (refused instanceof Error) assert.ok(['ECONNREFUSED', 'ECONNRESET'].includes(refused.code ?? ''), refused.message);
      else {
        assert.equal(refused.status, 503);
        assert.equal(refused.json().error.code, 'HEADROOM_DRAINING');
      }
      release();
      assert.deepEqual((await slow).json(), { done: true });
      await stopped;
      assert.ok(closedApp);
      assert.ok(await portClosed(t.url));
      await t.close(); // idempotent after shutdown
    });
  });

  it('continueOnRead(server): 100 Continue once the app reads the body; a shed upload gets its 503 alone; bad calls refused', async () => {
    const mem = fakeMemory();
    const hr = headroom({ monitor: { sampler: mem.sampler, autoStart: false } });
    const a = express();
    a.use(express.json());
    a.post('/items', (req, res) => void res.json({ created: req.body as unknown }));
    const { server, url } = await listen(hr.handler(a));
    const undo = continueOnRead(server);
    const head = (length: number): string =>
      `POST /items HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
    try {
      hr.headroom.monitor.sampleNow();
      const created = await uploadOnContinue(url, head(7), '{"a":1}');
      assert.ok(created.text.startsWith(CONTINUE), created.text);
      assert.match(created.text, /\r\n\r\n\{"created":\{"a":1\}\}$/);
      mem.setHeapRatio(0.9);
      hr.headroom.monitor.sampleNow();
      // 1 MB announced and never sent: the client waits for a go-ahead that must not come.
      const shed = await rawRequest(url, head(1_000_000), undefined, 5_000);
      assert.equal(shed.status, 503, shed.text);
      assert.doesNotMatch(shed.text, /100 Continue/);
      assert.equal(shed.closed, true);
      assert.throws(
        () => continueOnRead(server),
        (err: unknown) => isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID' && /call it once per server/.test(err.message),
      );
      assert.throws(
        () => continueOnRead(a as never),
        (err: unknown) => isHeadroomError(err) && /takes a Node http or https server .*got function/.test(err.message),
      );
    } finally {
      undo();
      await closeServer(server);
      await hr.close();
    }
  });

  it('hr.handler(app) in front of the app: answers and sheds before Express sees the request, counts the rest', async () => {
    const mem = fakeMemory();
    const hr = headroom({ monitor: { sampler: mem.sampler, autoStart: false }, routes: { health: '/healthz' } });
    let reached = 0;
    const a = express();
    a.use((_req, _res, next) => {
      reached++;
      next();
    });
    let release!: () => void;
    a.get('/own', (_req, res) => void res.json({ own: true }));
    a.get('/held', (_req, res) => void (release = () => res.end('done')));
    const { server, url } = await listen(hr.handler(a));
    try {
      hr.headroom.monitor.sampleNow();
      assert.deepEqual((await request(`${url}/own`)).json(), { own: true });
      assert.equal(reached, 1);
      assert.equal((await request(`${url}/healthz/ready`)).status, 200);
      const host = new URL(url).host;
      const absolute = await rawRequest(url, `GET http://${host}/healthz/ready HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(absolute.status, 200, `an absolute-form probe is headroom's too: ${absolute.text}`);
      assert.match((await request(`${url}/metrics`)).text, /^headroom_app_requests_in_flight 0$/m);
      assert.equal((await request(`${url}/admin/memory-stats`)).status, 403, 'the admin API without a token');
      assert.equal(reached, 1, "headroom's own routes never reach the app");

      const held = request(`${url}/held`);
      await waitFor(() => release, 'the held request reached the app');
      assert.equal(hr.headroom.requests().inFlight, 1);
      release();
      assert.equal((await held).text, 'done');
      await waitFor(() => hr.headroom.requests().inFlight === 0, 'released when its response finished');

      mem.setHeapRatio(0.9);
      hr.headroom.monitor.sampleNow();
      const shed = await request(`${url}/own`);
      assert.equal(shed.status, 503);
      assert.equal(shed.json().error.code, 'HEADROOM_MEMORY_PRESSURE');
      assert.equal(reached, 2, 'a shed request never reaches the app');
      // A shed upload: answered at once and the connection closed, not its 100 MB read and discarded.
      const upload = await rawRequest(
        url,
        `POST /own HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000000\r\n\r\n${'x'.repeat(1000)}`,
        () => false,
        5_000,
      );
      assert.equal(upload.status, 503);
      assert.match(upload.text, /\r\nconnection: close\r\n/i);
      assert.equal(upload.closed, true, 'the server closed the connection');
    } finally {
      await closeServer(server);
      await hr.close();
    }
    // The admin rate limit in front of Express: the client as req.ip would be under `trust proxy`.
    const admin = headroom({ monitor: { autoStart: false }, adminToken: TOKEN, adminRateLimit: 1 });
    const trusting = express();
    trusting.set('trust proxy', true);
    const front = await listen(admin.handler(trusting));
    try {
      const as = (client: string) =>
        request(`${front.url}/admin/memory-stats`, { headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': client } });
      assert.equal((await as('10.0.0.1')).status, 200);
      assert.equal((await as('10.0.0.1')).status, 429, 'the second request of one client in a minute');
      assert.equal((await as('10.0.0.2')).status, 200, 'another client (from X-Forwarded-For, trusted) has its own window');
    } finally {
      await closeServer(front.server);
      await admin.close();
    }
    const bad = headroom({ monitor: { autoStart: false } });
    try {
      // A misspelt variable (undefined) would close headroom on SIGTERM but leave the app listening.
      for (const server of [undefined, null])
        assert.throws(() => bad.shutdown(server as never), {
          code: 'HEADROOM_CONFIG_INVALID',
          message: `hr.shutdown(server): server is required: the HTTP server to stop, e.g. hr.shutdown(app.listen(3000)); got ${String(server)}`,
        });
      assert.throws(
        () => bad.handler({} as never),
        (err: unknown) =>
          isHeadroomError(err) &&
          err.code === 'HEADROOM_CONFIG_INVALID' &&
          /hr\.handler\(app\) takes the app's request listener.*got object/.test(err.message),
      );
    } finally {
      await bad.close();
    }
  });

  it('refuses options that are not an object, saying so (no destructuring TypeError, no key per character)', () => {
    for (const bad of [null, 'http://upstream', 5]) {
      assert.throws(() => headroom(bad as never), {
        code: 'HEADROOM_CONFIG_INVALID',
        message: 'headroom() from headroom-memory/express: options must be an object, e.g. headroom({ proxy: { upstreamUrl } })',
      });
    }
  });

  it('refuses hr.proxy() and hr.image() without their options, naming the option', async () => {
    const hr = headroom({ monitor: { autoStart: false } });
    try {
      assert.throws(
        () => hr.proxy(),
        (err: unknown) => isHeadroomError(err) && err.code === 'HEADROOM_CONFIG_INVALID' && /proxy: \{ upstreamUrl \}/.test(err.message),
      );
      assert.throws(
        () => hr.image(),
        (err: unknown) => err instanceof HeadroomError && /allowedOrigins/.test(err.message),
      );
      assert.equal(typeof registerProxyMetrics, 'function', 'the metrics registrations are exported from the entry');
    } finally {
      await hr.close();
    }
  });

  it('proxies from a route handler by its literal mount; a route with parameters is refused clearly; a stale req.route is ignored', async () => {
    const t = await app((a, hr) => {
      a.all('/raw/*splat', hr.proxy());
      a.all('/braced{/*rest}', hr.proxy());
      const v2 = express.Router();
      v2.get('/files/*splat', hr.proxy());
      a.use('/v2', v2);
      a.all('/t/:tenant/*rest', hr.proxy());
      a.get('/passes', (_req, _res, next) => next()); // leaves req.route set for what follows
      a.use(hr.proxy()); // unmounted: takes /api… by the proxy's prefix
      a.use((_req, res) => void res.status(404).json({ app: 404 }));
    });
    try {
      const expect: [string, string][] = [
        ['/raw/a/b?x=1&y=%2F', 'GET /a/b?x=1&y=%2F 0'],
        ['/braced', 'GET / 0'],
        ['/braced/deep?q', 'GET /deep?q 0'],
        ['/v2/files/f.txt?z=1', 'GET /f.txt?z=1 0'],
        ['/api/unmounted?k=v', 'GET /unmounted?k=v 0'],
      ];
      await expectUpstream(t.url, upstream, expect);
      const from = upstream.seen.length;
      const params = await request(`${t.url}/t/7/x`);
      assert.equal(params.status, 500);
      assert.equal(params.json().error.code, 'HEADROOM_CONFIG_INVALID');
      assert.match(params.json().error.message, /\/t\/:tenant\/\*rest.*app\.use\('\/path', hr\.proxy\(\)\)/);
      assert.deepEqual(
        (await request(`${t.url}/passes`)).json(),
        { app: 404 },
        'a stale req.route does not make the proxy take the request',
      );
      assert.equal(upstream.seen.length, from);
    } finally {
      await t.close();
    }
  });

  it('a route handler takes the URL in the case the router matched it (/RAW/x under /raw/*splat), per app and per Router', async () => {
    const t = await app((a, hr) => {
      a.set('case sensitive routing', true); // the app's own routes match exactly…
      a.all('/exact/*splat', hr.proxy());
      const r = express.Router(); // …but a Router is case-insensitive unless made otherwise
      r.all('/raw/*splat', hr.proxy());
      r.all('/opt{/*splat}', hr.proxy());
      a.use(r);
      a.use((_req, res) => void res.status(404).json({ app: 404 }));
    });
    try {
      const expect: [string, string][] = [
        ['/RAW/x?q=1', 'GET /x?q=1 0'],
        ['/Raw/a/B', 'GET /a/B 0'],
        ['/OPT', 'GET / 0'],
        ['/oPt/y', 'GET /y 0'],
        ['/exact/z', 'GET /z 0'],
      ];
      await expectUpstream(t.url, upstream, expect);
      const from = upstream.seen.length;
      assert.deepEqual((await request(`${t.url}/EXACT/z`)).json(), { app: 404 }, 'case sensitive routing: not routed to the proxy');
      assert.equal(upstream.seen.length, from);
    } finally {
      await t.close();
    }
  });

  it('Connect (no req.baseUrl): a URL an earlier middleware rewrote is not taken for a mount; mounted ones still are', async () => {
    const hr = headroom({ proxy: { upstreamUrl: upstream.url, closeTimeout: 500 }, monitor: { autoStart: false } });
    type Req = IncomingMessage & { originalUrl?: string };
    type Layer = [route: string, handle: (req: Req, res: ServerResponse, next: () => void) => void];
    const stack: Layer[] = [
      // A trailing-slash normaliser, as many Connect apps have.
      [
        '',
        (req, _res, next) => {
          if (req.url!.length > 1) req.url = req.url!.replace(/\/(?=\?|$)/, '');
          next();
        },
      ],
      ['/gw', hr.proxy()],
      ['', hr.proxy()], // unmounted: only URLs under the proxy's prefix (/api)
      ['', (req, res) => void res.end(`app ${req.url}`)],
    ];
    // Connect's dispatch (connect/index.js): originalUrl kept, the route cut from req.url (in any
    // case, at '/' or the end), '/' put back in front, req.url restored for the next layer.
    const server = await listen((req: Req, res) => {
      req.originalUrl = req.originalUrl ?? req.url;
      let i = 0;
      const next = (): void => {
        const [route, handle] = stack[i++]!;
        const url = req.url!;
        const path = url.split('?')[0]!;
        if (route && (path.slice(0, route.length).toLowerCase() !== route || !['/', undefined].includes(path[route.length]))) return next();
        if (route) req.url = url.slice(route.length).replace(/^(?!\/)/, '/');
        handle(req, res, () => {
          if (route) req.url = url;
          next();
        });
      };
      next();
    });
    try {
      const expect: [string, string][] = [
        ['/about/', 'app /about'],
        ['/private/admin-panel/?x=1', 'app /private/admin-panel?x=1'],
        ['/api/x/?k=v', '{"url":"/x?k=v"}'],
        ['/gw/deep/path?a=1', '{"url":"/deep/path?a=1"}'],
        ['/GW/deep/', '{"url":"/deep"}'],
        ['/gw', '{"url":"/"}'],
      ];
      const from = upstream.seen.length;
      for (const [client, body] of expect) assert.equal((await request(`${server.url}${client}`)).text, body, client);
      assert.deepEqual(upstream.seen.slice(from), ['GET /x?k=v 0', 'GET /deep/path?a=1 0', 'GET /deep 0', 'GET / 0']);
    } finally {
      await closeServer(server.server);
      await hr.close();
    }
  });

  it('validates routes with the shared path rule; /health/ and /metrics/ answer like Fastify, the probes below are exact', async () => {
    assert.throws(
      () => headroom({ routes: { health: 'health', admin: '/admin/' } }),
      (err: unknown) =>
        isHeadroomError(err) &&
        err.code === 'HEADROOM_CONFIG_INVALID' &&
        /routes: health="health": must be a path like \/health .*admin="\/admin\/": must be a path like \/admin/.test(err.message),
    );
    assert.throws(() => headroom({ routes: { admin: '/x', health: '/x' } }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /routes: admin="\/x" and health="\/x" claim the same path: each of headroom.s routes needs a path of its own/,
    });
    // Beside each other or below the admin API's path is fine (the exact routes answer first).
    await headroom({ routes: { health: '/health', metrics: '/health/metrics' }, monitor: { autoStart: false } }).close();
    const t = await app((a, hr) => {
      a.use(hr.middleware());
      a.use((_req, res) => void res.status(404).json({ app: 404 }));
    });
    try {
      const slash = await request(`${t.url}/health/`);
      assert.equal(slash.status, 200);
      assert.equal(slash.json().status, 'healthy');
      assert.equal((await request(`${t.url}/metrics/`)).status, 200);
      assert.deepEqual((await request(`${t.url}/health/ready/`)).json(), { app: 404 });
    } finally {
      await t.close();
    }
  });

  it('hr.image() answers 405 with Allow for methods other than GET and HEAD', async () => {
    const t = await app((a, hr) => void a.use('/image', hr.image()), {
      image: { allowedOrigins: ['https://images.example.com'] },
      monitor: { autoStart: false },
    });
    try {
      for (const method of ['POST', 'DELETE']) {
        const r = await request(`${t.url}/image?url=https://images.example.com/a.png`, { method });
        assert.equal(r.status, 405, method);
        assert.equal(r.headers.allow, 'GET, HEAD');
        assert.equal(r.json().error.code, 'HEADROOM_METHOD_NOT_ALLOWED');
      }
    } finally {
      await t.close();
    }
  });

  it('works in a Connect-style app (originalUrl without baseUrl) too', async () => {
    const hr = headroom({ proxy: { upstreamUrl: upstream.url, closeTimeout: 500 }, monitor: { autoStart: false } });
    const mw = hr.middleware();
    const proxy = hr.proxy();
    // What connect does for app.use('/gw', proxy): cut the route from req.url, keep originalUrl.
    const server = await listen((req, res) => {
      const r = req as IncomingMessage & { originalUrl?: string };
      r.originalUrl = req.url;
      mw(r, res, () => {
        if (!req.url!.startsWith('/gw')) return void res.end('no');
        req.url = req.url!.slice(3) || '/';
        proxy(r, res, () => res.end('next'));
      });
    });
    try {
      const from = upstream.seen.length;
      assert.equal((await request(`${server.url}/gw/deep/path?a=1&a=2`)).status, 200);
      assert.deepEqual(upstream.seen.slice(from), ['GET /deep/path?a=1&a=2 0']);
      assert.equal((await request(`${server.url}/health/live`)).status, 200);
    } finally {
      await closeServer(server.server);
      await hr.close();
    }
  });

  it('warns once, at the first request, about app routes headroom answers in their place', async () => {
    const seen: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => {
      if (w.code === 'HEADROOM_ROUTES_SHADOWED') seen.push(w.message);
    };
    process.on('warning', onWarning);
    const ok = (_req: express.Request, res: express.Response): void => void res.json({ app: true });
    const cases: {
      name: string;
      setup: (a: express.Express, hr: ExpressHeadroom) => void;
      options?: Parameters<typeof headroom>[0];
      expect: RegExp[];
      server?: 'handler';
    }[] = [
      {
        name: 'routes after hr.middleware()',
        setup: (a, hr) => {
          a.get('/metrics', ok); // before headroom: the app's route wins, nothing shadowed
          a.use(hr.middleware());
          a.get('/health', ok);
          a.get(['/admin/users', '/users'], ok);
          a.post('/health/ready', ok); // headroom's probes are GET only
          a.get('/healthz', ok);
          a.get('/:page', ok); // a parameter is reached for other values
        },
        expect: [
          /hr\.middleware\(\): the app's route GET \/health \(headroom's health at \/health\), GET \/admin\/users \(headroom's admin at \/admin\) is answered by headroom before Express/,
          /headroom\(\{ routes: \{ health: '\/headroom-health', admin: '\/headroom-admin' \} \}\)/,
        ],
      },
      {
        name: 'mounted at /ops',
        setup: (a, hr) => {
          a.use('/ops', hr.middleware());
          a.get('/ops/METRICS', ok); // Express routes in any case unless told not to
          a.get('/health', ok);
        },
        expect: [/GET \/ops\/METRICS \(headroom's metrics at \/ops\/metrics\)/],
      },
      {
        name: 'a path turned off',
        setup: (a, hr) => void (a.use(hr.middleware()), a.get('/health', ok)),
        options: { routes: { health: false } },
        expect: [],
      },
      {
        name: 'hr.handler(app)',
        setup: (a) => void a.get('/health/live', ok),
        server: 'handler',
        expect: [/hr\.handler\(app\): the app's route GET \/health\/live/],
      },
    ];
    try {
      for (const c of cases) {
        seen.length = 0;
        const hr = headroom({ adminToken: TOKEN, monitor: { autoStart: false }, ...c.options });
        const a = express();
        c.setup(a, hr);
        const server = await listen(c.server === 'handler' ? hr.handler(a) : a);
        try {
          // The first request that reaches headroom (under its mount) looks; later ones do not.
          await request(`${server.url}/ops/users`);
          await request(`${server.url}/users`);
          await request(`${server.url}/ops/users`);
          await new Promise((resolve) => setImmediate(resolve)); // process.emitWarning emits on the next tick
          assert.equal(seen.length, c.expect.length === 0 ? 0 : 1, `${c.name}: ${seen.join(' | ')}`);
          for (const re of c.expect) assert.match(seen[0]!, re, c.name);
        } finally {
          await closeServer(server.server);
          await hr.close();
        }
      }
      // An app whose router getter throws (Express 4: "'app.router' is deprecated!") is served, not looked at.
      const hr = headroom({ monitor: { autoStart: false } });
      const old = (_req: IncomingMessage, res: ServerResponse): void => void res.end('served');
      Object.defineProperty(old, 'router', {
        get() {
          throw new Error("'app.router' is deprecated!");
        },
      });
      const server = await listen(hr.handler(old));
      try {
        const r = await request(`${server.url}/x`);
        assert.equal(r.status, 200);
        assert.equal(r.text, 'served');
      } finally {
        await closeServer(server.server);
        await hr.close();
      }
    } finally {
      process.off('warning', onWarning);
    }
  });
});
