// Access log, request ids, Cache-Status and request metrics on a real gateway in front of a real
// upstream, with the gateway's log captured in memory.
import { test } from 'node:test';
import { once } from 'node:events';
import { connect } from 'node:net';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { promtoolCheckMetrics, promtoolOrSkip } from '../helpers/promtool.js';
import { startUpstream, type Upstream } from '../proxy/helpers.js';
import { parsePrometheus } from '../server/prometheus.js';
import { loadConfig } from '../../src/config/index.js';
import { createGateway } from '../../src/server/gateway.js';
import { createGatewayLogger } from '../../src/server/logger.js';
import { startupSummary } from '../../src/observe/startup-summary.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type Line = Record<string, unknown> & { msg: string };
const parsed = (t: TestGateway): Line[] => t.logs.map((l) => JSON.parse(l) as Line);
/** The access log lines (they carry a route). */
const accessLines = (t: TestGateway): Line[] => parsed(t).filter((l) => typeof l.route === 'string' && 'status' in l);
/** Waits for the access line of `reqId`: it is written when the response closes. */
const accessLineOf = (t: TestGateway, reqId: string): Promise<Line> =>
  waitFor(() => accessLines(t).find((l) => l.reqId === reqId), `the access line of ${reqId}`);

async function startPair(env: Record<string, string> = {}): Promise<{ t: TestGateway; up: Upstream; png: Buffer }> {
  const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#c00' } })
    .png()
    .toBuffer();
  const up = await startUpstream((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/img.png') {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', 'content-length': png.length });
      res.end(png);
    } else if (path === '/cacheable') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
      res.end('cached body');
    } else if (path === '/echo-id') {
      // An upstream that echoes the id (many frameworks do): the client must still get one.
      res.writeHead(200, { 'x-request-id': String(req.headers['x-request-id']), 'content-type': 'text/plain' });
      res.end('ok');
    } else if (path === '/cookie') {
      res.writeHead(200, { 'set-cookie': 'session=SETCOOKIESECRET; HttpOnly', 'content-type': 'text/plain' });
      res.end('cookie set');
    } else if (path === '/broken') {
      req.socket.destroy(); // no answer at all: the proxy answers 502 and logs a warning
    } else if (path === '/stall') {
      // Never answers (the client gives up first).
    } else if (path === '/fail') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
    } else {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    }
  });
  const t = await startGateway({
    UPSTREAM_URL: up.url,
    IMAGE_ALLOWED_ORIGINS: up.url,
    IMAGE_ALLOW_PRIVATE_ORIGINS: up.url,
    HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
    ...env,
  });
  return { t, up, png };
}

test('request ids: accepted when valid, replaced when not, forwarded upstream, returned, on every line of the request', async () => {
  await assertNoLeakedHandles(async () => {
    const { t, up } = await startPair();
    try {
      // A valid client id is kept end to end.
      const ok = await request(`${t.url}/api/items`, { headers: { 'x-request-id': 'trace-0001.a:b/c+d=e@f' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['x-request-id'], 'trace-0001.a:b/c+d=e@f');
      assert.equal(up.received.at(-1)!.headers['x-request-id'], 'trace-0001.a:b/c+d=e@f');
      assert.equal((await accessLineOf(t, 'trace-0001.a:b/c+d=e@f')).route, '/api/*');

      // Invalid ids (space, comma, too long, control-free but quoted, several lines) get a fresh UUID, never an error.
      const invalid: Record<string, string>[] = [
        { 'x-request-id': 'has space' },
        { 'x-request-id': 'a,b' },
        { 'x-request-id': 'x'.repeat(129) },
        { 'x-request-id': '"quoted"' },
        {},
      ];
      for (const headers of invalid) {
        const before = up.received.length;
        const res = await request(`${t.url}/api/items`, { headers });
        assert.equal(res.status, 200);
        const id = String(res.headers['x-request-id']);
        assert.match(id, UUID, JSON.stringify(headers));
        assert.equal(up.received.length, before + 1);
        // Exactly the new id upstream: the client's invalid one is not passed on.
        const sent = up.received.at(-1)!.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1]!.toLowerCase() === 'x-request-id');
        assert.deepEqual(sent, [id]);
        await accessLineOf(t, id);
      }
      const longest = await request(`${t.url}/api/items`, { headers: { 'x-request-id': 'y'.repeat(128) } });
      assert.equal(longest.headers['x-request-id'], 'y'.repeat(128), '128 characters is the bound, inclusive');

      // An upstream echoing the id: one X-Request-Id reaches the client.
      const echo = await request(`${t.url}/api/echo-id`, { headers: { 'x-request-id': 'echo-1' } });
      assert.equal(echo.headers['x-request-id'], 'echo-1');

      // Every line of a request that logs more than its access line carries the id.
      const broken = await request(`${t.url}/api/broken`, { headers: { 'x-request-id': 'broken-1' } });
      assert.equal(broken.status, 502);
      assert.equal(broken.headers['x-request-id'], 'broken-1', 'error answers carry the id too');
      await accessLineOf(t, 'broken-1');
      const warn = parsed(t).find((l) => l.msg === 'upstream request failed');
      assert.ok(warn, 'the proxy logged the failure');
      assert.equal(warn.reqId, 'broken-1');

      // An image whose origin fails: the error handler's warning (request.log) carries the id as well.
      const img = await request(`${t.url}/image?url=${encodeURIComponent(`${up.url}/broken`)}`, {
        headers: { 'x-request-id': 'img-broken-1' },
      });
      assert.ok(img.status >= 500, `${img.status} ${img.text}`);
      assert.equal(img.headers['x-request-id'], 'img-broken-1');
      await accessLineOf(t, 'img-broken-1');
      const imgLines = parsed(t).filter((l) => l.reqId === 'img-broken-1');
      assert.ok(imgLines.length >= 2, `the warning and the access line:\n${JSON.stringify(imgLines)}`);
      assert.ok(
        !t.logs.some((l) => l.includes('"code":"HEADROOM_UPSTREAM') && !l.includes('img-broken-1')),
        'no line of it without the id',
      );

      // Fastify's routes: the same rules.
      const notFound = await request(`${t.url}/nowhere`, { headers: { 'x-request-id': 'nf-1' } });
      assert.equal(notFound.status, 404);
      assert.equal(notFound.headers['x-request-id'], 'nf-1');
      assert.equal((await accessLineOf(t, 'nf-1')).route, 'unmatched');
      const generated = await request(`${t.url}/health`, { headers: { 'x-request-id': 'bad id' } });
      assert.match(String(generated.headers['x-request-id']), UUID);

      // Each request has exactly one access line.
      const ids = accessLines(t).map((l) => l.reqId);
      assert.equal(new Set(ids).size, ids.length, 'one access line per request');
    } finally {
      await t.close();
      await up.close();
    }
  });
});

test('access log: fields of proxied, image and app requests; no query values, no secret headers; probes skipped', async () => {
  await assertNoLeakedHandles(async () => {
    const { t, up, png } = await startPair();
    try {
      const body = Buffer.alloc(1000, 'a');
      const post = await request(`${t.url}/api/items?api_key=QUERYSECRET&page=2&flag`, {
        method: 'POST',
        body,
        headers: {
          'x-request-id': 'post-1',
          authorization: 'Bearer AUTHSECRET',
          cookie: 'sid=COOKIESECRET',
          'x-api-token': 'TOKENSECRET',
          'content-type': 'application/octet-stream',
        },
      });
      assert.equal(post.status, 200);
      const line = await accessLineOf(t, 'post-1');
      assert.equal(line.method, 'POST');
      assert.equal(line.route, '/api/*');
      assert.equal(line.path, '/api/items?api_key=&page=', 'names kept, values (and bare ?flag) dropped');
      assert.equal(line.status, 200);
      assert.equal(line.bytesIn, 1000);
      assert.ok((line.bytesOut as number) > '{"ok":true}'.length, 'status line, headers and body');
      assert.equal(typeof line.ms, 'number');
      assert.equal(typeof line.upstreamMs, 'number');
      assert.ok((line.upstreamMs as number) <= (line.ms as number));
      assert.equal(line.cache, 'method');
      assert.equal(line.level, 30);
      assert.equal(line.client, '127.0.0.1');

      const cookie = await request(`${t.url}/api/cookie`, { headers: { 'x-request-id': 'cookie-1' } });
      assert.match(String(cookie.headers['set-cookie']), /SETCOOKIESECRET/);
      await accessLineOf(t, 'cookie-1');

      const src = encodeURIComponent(`${up.url}/img.png?sig=IMAGESIGSECRET`);
      const img = await request(`${t.url}/image?url=${src}&w=8&format=png`, { headers: { 'x-request-id': 'img-1' } });
      assert.equal(img.status, 200, img.text);
      const imgLine = await accessLineOf(t, 'img-1');
      assert.equal(imgLine.route, '/image');
      assert.equal(imgLine.path, '/image?url=&w=&format=');
      assert.equal(imgLine.status, 200);
      assert.ok((imgLine.bytesOut as number) > img.body.length);
      assert.equal(imgLine.cache, 'miss');
      assert.equal(imgLine.upstreamMs, undefined);
      assert.equal(imgLine.client, '127.0.0.1', 'a Fastify route names the client too');
      assert.ok(png.length > 0);

      const upstream5xx = await request(`${t.url}/api/fail`, { headers: { 'x-request-id': 'fail-1' } });
      assert.equal(upstream5xx.status, 503);
      assert.equal((await accessLineOf(t, 'fail-1')).level, 40, '5xx answers are logged at warn');

      // Probes and scrapes are answered and counted but not logged.
      for (const p of ['/health', '/health/live', '/health/ready', '/metrics']) {
        const res = await request(`${t.url}${p}`, { headers: { 'x-request-id': `probe${p.replaceAll('/', '-')}` } });
        assert.equal(res.status, 200, p);
      }
      const admin = await request(`${t.url}/admin/proxy-stats`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-request-id': 'admin-1' },
      });
      assert.equal(admin.status, 200);
      assert.equal((await accessLineOf(t, 'admin-1')).route, '/admin/proxy-stats');
      assert.ok(!accessLines(t).some((l) => String(l.reqId).startsWith('probe')), 'no probe or scrape lines');

      await t.close();
      const all = t.logs.join('\n');
      for (const secret of ['QUERYSECRET', 'AUTHSECRET', 'COOKIESECRET', 'TOKENSECRET', 'SETCOOKIESECRET', 'IMAGESIGSECRET', ADMIN_TOKEN]) {
        assert.ok(!all.includes(secret), `${secret} was logged`);
      }
    } finally {
      await t.close();
      await up.close();
    }
  });
});

test('access log client: the socket address, or under TRUST_PROXY the forwarded one; kept for a client that left', async () => {
  const { t, up } = await startPair({ TRUST_PROXY: '127.0.0.1' });
  try {
    // Through a trusted proxy (127.0.0.1): the address it forwarded, as Fastify's request.ip.
    await request(`${t.url}/api/x`, { headers: { 'x-request-id': 'fwd-1', 'x-forwarded-for': '203.0.113.7' } });
    assert.equal((await accessLineOf(t, 'fwd-1')).client, '203.0.113.7');
    await request(`${t.url}/admin/proxy-stats`, { headers: { 'x-request-id': 'fwd-2', 'x-forwarded-for': '203.0.113.8' } });
    assert.equal((await accessLineOf(t, 'fwd-2')).client, '203.0.113.8', 'a Fastify route (401) the same');
    // A client that leaves before any answer: its socket is gone when the line is written.
    const socket = connect(Number(new URL(t.url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /api/stall HTTP/1.1\r\nHost: x\r\nX-Request-Id: gone-1\r\n\r\n');
    const stalled = await waitFor(() => up.received.find((r) => r.url === '/stall'), 'the request reached the upstream');
    socket.destroy();
    await stalled.settled; // the proxy dropped the upstream request too
    const gone = await accessLineOf(t, 'gone-1');
    assert.equal(gone.status, 499);
    assert.equal(gone.client, '127.0.0.1');
  } finally {
    await t.close();
    await up.close();
  }
});

test("access log bytesIn of a gateway route: the body's length once it arrived whole, never a client's claim alone", async () => {
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    const [host, port] = [new URL(t.url).hostname, Number(new URL(t.url).port)];
    /** Sends `text`; with `cut`, ends the connection at once, else waits for the server to close it (Connection: close). */
    const raw = async (text: string, cut = false): Promise<void> => {
      const socket = connect(port, host);
      await once(socket, 'connect');
      if (cut) socket.end(text);
      else socket.write(text);
      socket.resume();
      await once(socket, 'close');
    };
    // A claim of 999999999 bytes, 5 sent, then the connection closes.
    await raw('POST /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: forged-1\r\nContent-Length: 999999999\r\n\r\nhello', true);
    assert.equal((await accessLineOf(t, 'forged-1')).bytesIn, 0);
    // A body the route read (Fastify parses a JSON body before the handler).
    await raw(
      `POST /admin/cache/clear HTTP/1.1\r\nHost: x\r\nX-Request-Id: whole-1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}',
    );
    const whole = await accessLineOf(t, 'whole-1');
    assert.equal(whole.status, 200);
    assert.equal(whole.bytesIn, 7);
  } finally {
    await t.close();
  }
});

test('Cache-Status (RFC 9211) and X-Cache on proxied and image responses, and in the access log', async () => {
  await assertNoLeakedHandles(async () => {
    const { t, up } = await startPair();
    try {
      const get = async (path: string, id: string, headers: Record<string, string> = {}, method = 'GET') => {
        const res = await request(`${t.url}${path}`, { method, headers: { 'x-request-id': id, ...headers } });
        return { res, line: await accessLineOf(t, id) };
      };
      const miss = await get('/api/cacheable', 'c-1');
      assert.equal(miss.res.headers['cache-status'], 'headroom; fwd=miss');
      assert.equal(miss.res.headers['x-cache'], 'MISS');
      assert.equal(miss.line.cache, 'miss');
      const hit = await waitFor(async () => {
        const r = await get('/api/cacheable', `c-hit-${Math.random()}`);
        return r.res.headers['x-cache'] === 'HIT' ? r : undefined;
      }, 'a cache hit once the entry is stored');
      // Our miss entry was not stored with the response: a hit says hit only.
      assert.equal(hit.res.headers['cache-status'], 'headroom; hit');
      assert.equal(hit.res.text, 'cached body');
      assert.equal(hit.line.cache, 'hit');
      assert.equal(hit.res.headers['x-request-id'], hit.line.reqId, 'hits return the request id too');
      assert.equal(hit.line.upstreamMs, undefined, 'no upstream took part');

      const noCache = await get('/api/cacheable', 'c-nc', { 'cache-control': 'no-cache' });
      assert.equal(noCache.res.headers['cache-status'], 'headroom; fwd=request');
      const post = await get('/api/cacheable', 'c-post', {}, 'POST');
      assert.equal(post.res.headers['cache-status'], 'headroom; fwd=method');
      // A URL whose answer was not storable is not looked up again for a while.
      await get('/api/plain', 'c-plain-1');
      const bypass = await get('/api/plain', 'c-plain-2');
      assert.equal(bypass.res.headers['cache-status'], 'headroom; fwd=bypass');
      assert.equal(bypass.res.headers['x-cache'], 'MISS');

      const src = encodeURIComponent(`${up.url}/img.png`);
      const first = await get(`/image?url=${src}&w=8&format=webp`, 'i-1');
      assert.equal(first.res.status, 200, first.res.text);
      assert.equal(first.res.headers['cache-status'], 'headroom; fwd=miss');
      assert.equal(first.line.cache, 'miss');
      const again = await waitFor(async () => {
        const r = await get(`/image?url=${src}&w=8&format=webp`, `i-hit-${Math.random()}`);
        return r.res.headers['x-cache'] === 'HIT' ? r : undefined;
      }, 'an image cache hit');
      assert.equal(again.res.headers['cache-status'], 'headroom; hit');
      assert.equal(again.line.cache, 'hit');
      // The original, unresized.
      const original = await get(`/image?url=${src}`, 'i-orig');
      assert.match(String(original.res.headers['cache-status']), /^headroom; (hit|fwd=miss)$/);
    } finally {
      await t.close();
      await up.close();
    }
  });
});

test('request metrics: route templates only, bounded over 1000 distinct URLs, 5xx by route, promtool clean', async (tt) => {
  await assertNoLeakedHandles(async () => {
    const { t, up } = await startPair();
    try {
      // 1000 distinct URLs: half proxied, half matching no route, 20 at a time.
      const urls = Array.from({ length: 1000 }, (_, i) => (i % 2 ? `/api/item/${i}?q=${i}` : `/scan/${i}/wp-login.php`));
      for (let i = 0; i < urls.length; i += 20) await Promise.all(urls.slice(i, i + 20).map((u) => request(`${t.url}${u}`)));
      assert.equal((await request(`${t.url}/api/fail`)).status, 503);
      assert.equal((await request(`${t.url}/image/meta?url=x`)).status, 400);

      const text = (await request(`${t.url}/metrics`)).text;
      const types = parsePrometheus(text);
      assert.equal(types.get('headroom_http_requests_total'), 'counter');
      assert.equal(types.get('headroom_http_request_duration_seconds'), 'histogram');
      const series = text.split('\n').filter((l) => l.startsWith('headroom_http_requests_total{'));
      const buckets = text.split('\n').filter((l) => l.startsWith('headroom_http_request_duration_seconds_bucket{'));
      assert.ok(series.length <= 10, `bounded series:\n${series.join('\n')}`);
      assert.ok(!/\/api\/item\/|wp-login|q=/.test(text), 'no raw URL in any label');
      const count = (labels: string): number =>
        Number(new RegExp(`^headroom_http_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1]);
      assert.equal(count('route="/api/\\*",method="GET",status="200"'), 500);
      assert.equal(count('route="unmatched",method="GET",status="404"'), 500);
      assert.equal(count('route="/api/\\*",method="GET",status="503"'), 1);
      assert.equal(count('route="/image/meta",method="GET",status="400"'), 1);
      assert.match(text, /^headroom_http_request_duration_seconds_count\{route="\/api\/\*",method="GET",status_class="5xx"\} 1$/m);
      assert.match(
        text,
        /^headroom_http_request_duration_seconds_bucket\{route="\/api\/\*",method="GET",status_class="2xx",le="\+Inf"\} 500$/m,
      );
      assert.ok(buckets.length > 0);

      if (!promtoolOrSkip('observe request metrics')) return tt.skip('promtool not installed');
      const findings = (await promtoolCheckMetrics(text)).filter((l) => /headroom_http_/.test(l));
      assert.deepEqual(findings, []);
    } finally {
      await t.close();
      await up.close();
    }
  });
});

test('start-up summary: one line with upstream, L2, admin, image origins, heap and container limits', async () => {
  await assertNoLeakedHandles(async () => {
    const { t, up } = await startPair();
    try {
      const summaries = parsed(t).filter((l) => /listening on/.test(l.msg));
      assert.equal(summaries.length, 1);
      const s = summaries[0]!;
      assert.equal(s.url, t.url);
      assert.equal(s.upstream, up.url);
      assert.equal(s.l2, 'disk');
      assert.equal(s.admin, true);
      assert.equal(s.metrics, 'open', 'no METRICS_TOKEN: said, so a misspelt variable shows');
      assert.deepEqual(s.imageOrigins, [up.url]);
      assert.equal(typeof s.heapLimit, 'number');
      assert.ok(s.containerLimit === null || typeof s.containerLimit === 'number');
      assert.match(
        s.msg,
        new RegExp(
          `^headroom listening on ${t.url}: upstream ${up.url}, L2 disk, admin on, metrics open, image origins ${up.url}, heap limit [\\d.]+ [KMGT]iB, container limit (none|[\\d.]+ [KMGT]?i?B)$`,
        ),
      );
    } finally {
      await t.close();
      await up.close();
    }
  });
});

test('start-up summary says whether /metrics asks for a token', () => {
  const facts = {
    url: 'http://127.0.0.1:3000',
    upstream: 'http://up:8080',
    l2: 'none',
    admin: false,
    imageOrigins: [],
    heapLimit: 1,
    containerLimit: null,
  };
  const withToken = startupSummary({ ...facts, metricsToken: true });
  assert.equal(withToken.fields.metrics, 'token');
  assert.match(withToken.msg, /, admin off, metrics token, /);
  assert.match(startupSummary({ ...facts, metricsToken: false }).msg, /, metrics open, /);
});

test('LOG_FORMAT=pretty on a live gateway: the summary and access lines are readable lines with the request id', async () => {
  await assertNoLeakedHandles(async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    const out: string[] = [];
    const { config } = loadConfig({ env: { PORT: '0', UPSTREAM_URL: up.url, LOG_FORMAT: 'pretty', CACHE_DISK_ENABLED: 'false' } });
    const { logger } = await createGatewayLogger(config, { write: (s: string) => void out.push(s) });
    const gw = await createGateway(config, { logger });
    try {
      const url = await gw.listen();
      const res = await request(`${url}/api/hello?secret=PRETTYSECRET`, { headers: { 'x-request-id': 'pretty-1' } });
      assert.equal(res.status, 200);
      const text = await waitFor(() => {
        const joined = out.join('');
        return joined.includes('reqId=pretty-1') ? joined : undefined;
      }, 'the pretty access line');
      const lines = text.split('\n').filter(Boolean);
      for (const l of lines) assert.match(l, /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /, l);
      assert.ok(
        lines.some((l) =>
          l.includes(`INFO  headroom listening on ${url}: upstream ${up.url}, L2 none, admin off, metrics open, image origins none`),
        ),
      );
      const access = lines.find((l) => l.includes('reqId=pretty-1'))!;
      assert.match(
        access,
        /INFO {2}GET \/api\/hello\?secret= 200 [\d.]+ms reqId=pretty-1 method=GET route=\/api\/\* path="\/api\/hello\?secret=" status=200 /,
      );
      assert.ok(!text.includes('PRETTYSECRET'));
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
