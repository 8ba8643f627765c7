// The Next.js adapter's pieces that need no Next build: the Edge fallback, the image loader, and
// the route handlers called with Web Requests directly (auth hook, consumed bodies, aborts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import {
  closeHeadroom,
  createAdminRoute,
  createMetricsRoute,
  createHealthRoute,
  createImageRoute,
  createProxyRoute,
  getHeadroom,
  registerHeadroom,
  withHeadroom,
  type RouteHandler,
} from '../../../src/adapters/next/index.js';
import { imageSpecs } from '../../../src/image/options.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import * as edge from '../../../src/adapters/next/edge.js';
import loader, { createImageLoader } from '../../../src/adapters/next/image-loader.js';

/** A real upstream for a proxy route, its connections cut and closed after the test; its URL. */
async function upstreamFor(t: TestContext, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('on the Edge runtime every handler answers 501 naming the fix, warns once, and register() does nothing', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const before = process.env.NEXT_RUNTIME;
  process.env.NEXT_RUNTIME = 'edge';
  try {
    for (const route of [
      createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9' }).GET,
      createHealthRoute().GET,
      edge.createMetricsRoute().GET,
      // Each factory's answer is a handler itself too (export const GET = createHealthRoute()).
      edge.createHealthRoute(),
      edge.createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9' }),
    ]) {
      const r = await route(new Request('http://app.test/api/x'));
      assert.equal(r.status, 501);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.match(body.error.message, /export const runtime = 'nodejs'/);
    }
    assert.equal(await registerHeadroom(), undefined);
    assert.ok(warn.mock.callCount() <= 1, 'one warning per process');
  } finally {
    if (before === undefined) delete process.env.NEXT_RUNTIME;
    else process.env.NEXT_RUNTIME = before;
  }
});

test('each route factory is also a handler of its requests: `export const GET = createHealthRoute()` works as `export const { GET } = …` does', async (t) => {
  t.after(() => closeHeadroom());
  const upstream = await upstreamFor(t, (req, res) => res.end(`upstream ${req.method} ${req.url}`));
  const get = (path: string, init?: RequestInit): Request => new Request(`http://app.test${path}`, init);
  const health = createHealthRoute('live');
  assert.equal(typeof health, 'function');
  assert.equal((await health(get('/health/live'))).status, 200);
  assert.deepEqual(await (await health(get('/health/live'))).json(), await (await health.GET(get('/health/live'))).json());
  assert.equal((await createMetricsRoute()(get('/metrics'))).headers.get('content-type')?.startsWith('text/plain'), true);
  const proxy = createProxyRoute({ upstreamUrl: upstream, prefix: '/api' });
  assert.equal(await (await proxy(get('/api/x?y=1'))).text(), 'upstream GET /x?y=1');
  assert.equal(await (await proxy(get('/api/x', { method: 'POST', body: 'b' }))).text(), 'upstream POST /x');
  assert.equal((await createAdminRoute()(get('/admin/memory-stats'))).status, 403, 'off without a token, as its GET');
  const image = createImageRoute({ image: { allowedOrigins: [upstream] } });
  assert.equal((await image(get('/image'))).status, (await image.GET(get('/image'))).status);
});

test('the next/image loader builds /image URLs', () => {
  assert.equal(loader({ src: 'https://img.test/a.jpg', width: 640, quality: 80 }), '/image?url=https%3A%2F%2Fimg.test%2Fa.jpg&w=640&q=80');
  const l = createImageLoader({ path: '/img', quality: 60, origin: 'https://cdn.test/' });
  assert.equal(l({ src: '/p.png', width: 100 }), '/img?url=https%3A%2F%2Fcdn.test%2Fp.png&w=100&q=60');
});

test('the next/image loader refuses bad options at once, and a bad width or quality naming the image', () => {
  const bad: [unknown, RegExp][] = [
    [{ quality: 0 }, /^createImageLoader: quality=0: must be an integer from 1 to 100$/],
    [{ quality: 75.5 }, /quality=75\.5: must be an integer/],
    [{ path: 'image' }, /^createImageLoader: path="image": must be the image route's path, starting with \//],
    [{ path: '/image?x=1' }, /path="\/image\?x=1"/],
    [{ origin: 'cdn.test' }, /^createImageLoader: origin="cdn\.test": must be an absolute http\(s\) URL/],
    [{ origin: 'ftp://cdn.test' }, /origin="ftp:\/\/cdn\.test"/],
    [{ qualty: 60 }, /^createImageLoader: unknown option qualty \(the options are path, quality, origin, maxWidth\)$/],
    [null, /^createImageLoader: options must be an object, got null$/],
  ];
  for (const [options, message] of bad)
    assert.throws(() => createImageLoader(options as never), { name: 'TypeError', message }, JSON.stringify(options));
  for (const [props, message] of [
    [{ src: '/a.jpg', width: NaN }, /^headroom image loader: \/a\.jpg: width must be a positive integer, got NaN$/],
    [{ src: '/a.jpg', width: 0 }, /width must be a positive integer, got 0/],
    [{ src: '/a.jpg', width: 640, quality: 0 }, /^headroom image loader: \/a\.jpg: quality must be an integer from 1 to 100, got 0$/],
    [{ src: '', width: 640 }, /src must be a non-empty string/],
  ] as const)
    assert.throws(() => loader(props as never), { name: 'TypeError', message }, JSON.stringify(props));
});

test("the next/image loader refuses widths above the image route's IMAGE_MAX_OUTPUT_DIMENSION (maxWidth, its default by default), naming src, width and limit", () => {
  // The loader imports nothing, so it repeats the route's default and bounds: they must agree.
  const spec = imageSpecs.maxOutputDimension;
  const max = spec.default;
  assert.equal(loader({ src: 'https://img.test/a.jpg', width: max }), `/image?url=https%3A%2F%2Fimg.test%2Fa.jpg&w=${max}&q=75`);
  assert.throws(() => loader({ src: 'https://img.test/a.jpg', width: max + 1 }), {
    name: 'TypeError',
    message: `headroom image loader: https://img.test/a.jpg: width must be at most ${max} (maxWidth: the image route's IMAGE_MAX_OUTPUT_DIMENSION), got ${max + 1}`,
  });
  const wide = createImageLoader({ maxWidth: 8000 });
  assert.match(wide({ src: 'https://img.test/a.jpg', width: 8000 }), /&w=8000&/);
  assert.throws(() => wide({ src: 'https://img.test/a.jpg', width: 8001 }), /at most 8000/);
  assert.equal(spec.accepted, 'must be an integer between 16 and 16384', 'the bounds the loader repeats');
  for (const bad of [15, 16_385, 100.5, '4096'])
    assert.throws(() => createImageLoader({ maxWidth: bad as number }), {
      name: 'TypeError',
      message: /maxWidth=.*: must be an integer from 16 to 16384/,
    });
});

test('proxy route: authorize answers first, a consumed body is refused, aborts release the slot', async (t) => {
  let calls = 0;
  t.after(() => closeHeadroom());
  const upstreamUrl = await upstreamFor(t, (req, res) => {
    calls++;
    req.resume();
    if (req.url?.startsWith('/slow')) return void setTimeout(() => res.end('late'), 5000).unref();
    res.end('ok');
  });
  const route = createProxyRoute({
    upstreamUrl,
    prefix: '/api',
    authorize: (request) =>
      request.headers.get('x-deny') === '1' ? Response.json({ error: 'denied by app' }, { status: 401 }) : undefined,
  });
  const h = getHeadroom();

  const denied = await route.POST(new Request('http://app.test/api/x', { method: 'POST', body: 'abc', headers: { 'x-deny': '1' } }));
  assert.equal(denied.status, 401);
  assert.deepEqual(await denied.json(), { error: 'denied by app' });
  assert.equal(calls, 0, 'a denied request never reaches the upstream');

  const read = new Request('http://app.test/api/x', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
  await read.json();
  const consumed = await route.POST(read);
  assert.equal(consumed.status, 500);
  const body = (await consumed.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'HEADROOM_BODY_CONSUMED');
  assert.match(body.error.message, /unread Request/);
  assert.equal(calls, 0, 'a consumed body is never forwarded');
  assert.equal(h.requests().inFlight, 0);

  // A body an authorize hook took a reader for (and read nothing of) is refused the same way.
  const held = new Request('http://app.test/api/x', { method: 'POST', body: 'abc' });
  held.body!.getReader();
  const locked = await route.POST(held);
  assert.equal(locked.status, 500);
  assert.equal(((await locked.json()) as { error: { code: string } }).error.code, 'HEADROOM_BODY_CONSUMED');
  assert.equal(calls, 0);

  const ok = await route.GET(new Request('http://app.test/api/hello'));
  assert.equal(await ok.text(), 'ok');

  // The client goes away while the upstream holds its answer: the in-flight slot is released.
  const abort = new AbortController();
  const pending = route.GET(new Request('http://app.test/api/slow', { signal: abort.signal }));
  await waitFor(() => h.requests().inFlight === 1, 'the proxied request in flight');
  abort.abort();
  await pending.then((r) => r.body?.cancel()).catch(() => undefined);
  await waitFor(() => h.requests().inFlight === 0, 'the slot released after the abort');
});

test('image route: a repeated query key is refused (400), never read as its last value', async (t) => {
  t.after(() => closeHeadroom());
  const origin = 'http://127.0.0.1:9';
  const route = createImageRoute({ image: { allowedOrigins: [origin], allowPrivateOrigins: [origin] } });
  const url = (p: string): string => encodeURIComponent(`${origin}${p}`);
  const r = await route.GET(new Request(`http://app.test/image?url=${url('/private.png')}&url=${url('/public.png')}&w=64`));
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: { message: string } }).error.message, /url must be given once/);
});

test("image routes with different options each keep their own origin policy, under a Headroom's image service too", async (t) => {
  t.after(() => closeHeadroom());
  const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#369' } })
    .png()
    .toBuffer();
  const serve: RequestListener = (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png);
  const a = await upstreamFor(t, serve);
  const b = await upstreamFor(t, serve);
  const ask = async (route: { GET: RouteHandler }, origin: string): Promise<number> => {
    const r = (await route.GET(new Request(`http://app.test/image?url=${encodeURIComponent(`${origin}/p.png`)}&w=16`)))!;
    await r.arrayBuffer();
    return r.status;
  };
  const onlyA = createImageRoute({ image: { allowedOrigins: [a], allowPrivateOrigins: [a] } });
  const onlyB = createImageRoute({ image: { allowedOrigins: [b], allowPrivateOrigins: [b] } });
  assert.deepEqual([await ask(onlyA, a), await ask(onlyA, b)], [200, 403], 'route A: its origin only');
  assert.deepEqual([await ask(onlyB, b), await ask(onlyB, a)], [200, 403], "route B: its origin only, not route A's");
  await closeHeadroom();

  // register() made the Headroom's image service for origin A; a route for B does not run on it.
  const h = (await registerHeadroom({ image: { allowedOrigins: [a], allowPrivateOrigins: [a] } }))!;
  const other = createImageRoute({ image: { allowedOrigins: [b], allowPrivateOrigins: [b] } });
  assert.deepEqual([await ask(other, b), await ask(other, a)], [200, 403], "the route's policy, not the Headroom's");
  assert.equal(h.image!.stats().fetches, 0);
  const same = createImageRoute({ image: { allowedOrigins: [a], allowPrivateOrigins: [a] } });
  assert.equal(await ask(same, a), 200);
  assert.equal(h.image!.stats().fetches, 1, "the same options run on the Headroom's service");
});

test('withHeadroom: a handler that returns no Response is handed on as it is (Next.js names that mistake), not counted on', async (t) => {
  t.after(() => closeHeadroom());
  const route = withHeadroom((async () => undefined) as unknown as RouteHandler);
  assert.equal(await route(new Request('http://app.test/nothing')), undefined);
  assert.equal(getHeadroom().requests().inFlight, 0);
});

test('withHeadroom: a handler still running for a client that left no longer counts in flight', async (t) => {
  t.after(() => closeHeadroom());
  let finish!: () => void;
  const handler = withHeadroom(() => new Promise<Response>((r) => (finish = () => r(Response.json({ late: true })))));
  const h = getHeadroom();
  const abort = new AbortController();
  const answer = handler(new Request('http://app.test/app/slow', { signal: abort.signal }));
  assert.equal(h.requests().inFlight, 1);
  abort.abort();
  assert.equal(h.requests().inFlight, 0);
  finish();
  await (await answer).body?.cancel();
  assert.equal(h.requests().inFlight, 0, 'counted once');
});

test('withHeadroom: a streamed body counts in flight until it ends or is cancelled', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  let source!: ReadableStreamDefaultController<Uint8Array>;
  const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
  // The first chunk is there when the handler returns, the rest comes later.
  const handler = withHeadroom(
    async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            source = c;
            c.enqueue(bytes('a'));
          },
        }),
      ),
  );
  const read = (await handler(new Request('http://app.test/app/stream'))).body!.getReader();
  assert.equal(new TextDecoder().decode((await read.read()).value), 'a');
  assert.equal(h.requests().inFlight, 1, 'counted while the body streams');
  source.enqueue(bytes('b'));
  assert.equal(new TextDecoder().decode((await read.read()).value), 'b');
  assert.equal(h.requests().inFlight, 1);
  source.close();
  assert.equal((await read.read()).done, true);
  assert.equal(h.requests().inFlight, 0, 'released when the body ends');

  const cancelled = await handler(new Request('http://app.test/app/stream'));
  assert.equal(h.requests().inFlight, 1);
  await cancelled.body!.cancel();
  assert.equal(h.requests().inFlight, 0, 'released when the body is cancelled (the client left)');

  const fixed = await withHeadroom(async () => Response.json({ ok: true }))(new Request('http://app.test/app/json'));
  assert.deepEqual(await fixed.json(), { ok: true });
  assert.equal(h.requests().inFlight, 0);
});

test('after closeHeadroom() a proxy route answers its next request through the process’s new Headroom, not its closed parts, and leaves no active handle', async (t) => {
  const upstream = createServer((req, res) => req.resume().on('end', () => res.end('ok')));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => upstream.close(r)));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  await assertNoLeakedHandles(async () => {
    const route = createProxyRoute({ upstreamUrl, prefix: '/api' });
    assert.equal(await (await route.GET(new Request('http://app.test/api/a'))).text(), 'ok');
    const first = getHeadroom();
    await closeHeadroom();
    const again = await route.GET(new Request('http://app.test/api/b'));
    assert.equal(again.status, 200);
    assert.equal(await again.text(), 'ok');
    assert.notEqual(getHeadroom(), first, 'a new Headroom was made');
    assert.ok(getHeadroom().proxy, 'with this route’s proxy');
    await closeHeadroom();
    upstream.closeAllConnections();
  });
});

test("a proxy route making its own proxy (register() made the Headroom without one) keeps the Headroom's limits and cache", async (t) => {
  const release: (() => void)[] = [];
  let calls = 0;
  t.after(() => closeHeadroom());
  const upstreamUrl = await upstreamFor(t, (req, res) => {
    calls++;
    if (req.url === '/held') return void release.push(() => res.end('late'));
    res.writeHead(200, { 'cache-control': 'public, max-age=60' }).end('cacheable');
  });
  const config = { limits: { maxConcurrent: 1, queueSize: 0 }, cache: {} };
  await registerHeadroom(config);
  const route = createProxyRoute({ upstreamUrl, prefix: '/api', headroom: config });

  const first = await route.GET(new Request('http://app.test/api/c'));
  assert.equal(await first.text(), 'cacheable');
  await waitFor(() => getHeadroom().cache!.stats().l1.entries === 1, 'the response stored in the Headroom’s cache');
  const hit = await route.GET(new Request('http://app.test/api/c'));
  assert.equal(hit.headers.get('x-cache'), 'HIT');
  assert.equal(await hit.text(), 'cacheable');
  assert.equal(calls, 1);

  const held = route.GET(new Request('http://app.test/api/held'));
  await waitFor(() => release.length === 1, 'the first request at the upstream');
  const second = await route.GET(new Request('http://app.test/api/other'));
  assert.equal(second.status, 503, 'maxConcurrent 1, no queue');
  release[0]!();
  assert.equal(await (await held).text(), 'late');
});

test("a proxy route whose options the Headroom's proxy at its prefix was made without is refused, never run without them", async (t) => {
  const seen: string[] = [];
  const upstream = createServer((req, res) => {
    seen.push(String(req.headers.authorization));
    req.resume().on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => upstream.close(r)));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  try {
    // instrumentation.ts made the Headroom with its proxy; the route adds dropHeaders.
    await registerHeadroom({ proxy: { upstreamUrl, prefix: '/api' } });
    const withCreds = () => new Request('http://app.test/api/a', { headers: { authorization: 'Bearer user-secret' } });
    const dropping = createProxyRoute({ upstreamUrl, prefix: '/api', dropHeaders: ['authorization'] });
    await assert.rejects(dropping.GET(withCreds()), {
      code: 'HEADROOM_CONFIG_INVALID',
      message:
        "createProxyRoute() from headroom-memory/next: the process's Headroom (registerHeadroom() or getHeadroom()) already has a proxy at /api, made without this route's dropHeaders: pass the same proxy options to both (one shared config object), or give this route its own prefix",
    });
    assert.deepEqual(seen, [], 'nothing went upstream');
    // The same options, spelt differently (defaults written out, a URL object), run on that proxy.
    const same = createProxyRoute({ upstreamUrl: new URL(upstreamUrl), prefix: '/api', stripPrefix: true, dropHeaders: [] });
    assert.equal(await (await same.GET(withCreds())).text(), 'ok');
    assert.deepEqual(seen, ['Bearer user-secret']);
  } finally {
    await closeHeadroom();
    upstream.closeAllConnections();
  }
});

test('proxy route: dropHeaders in another case and order than the Headroom was made with are the same option', async (t) => {
  const seen: string[] = [];
  const upstream = createServer((req, res) => {
    seen.push(`${req.headers.authorization} ${req.headers.cookie}`);
    req.resume().on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => upstream.close(r)));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  try {
    await registerHeadroom({ proxy: { upstreamUrl, prefix: '/api', dropHeaders: ['authorization', 'cookie'] } });
    const route = createProxyRoute({ upstreamUrl, prefix: '/api', dropHeaders: ['Cookie', 'Authorization'] });
    const r = await route.GET(new Request('http://app.test/api/a', { headers: { authorization: 'Bearer s', cookie: 'sid=1' } }));
    assert.equal(await r.text(), 'ok');
    assert.deepEqual(seen, ['undefined undefined']);
  } finally {
    await closeHeadroom();
    upstream.closeAllConnections();
  }
});

test("proxy route: a client's X-Forwarded-Proto does not pass as the connection's (Next.js builds the URL's protocol from it)", async (t) => {
  const seen: (string | undefined)[] = [];
  const upstream = createServer((req, res) => {
    seen.push(req.headers['x-forwarded-proto'] as string | undefined);
    req.resume().on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => upstream.close(r)));
  try {
    const route = createProxyRoute({ upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, prefix: '/api' });
    // What Next.js hands the route for a plain-HTTP request carrying X-Forwarded-Proto: https.
    await (await route.GET(new Request('https://app.test/api/a', { headers: { 'x-forwarded-proto': 'https' } }))).text();
    // Without the header the URL's protocol is the connection's (TLS in front of Next.js itself).
    await (await route.GET(new Request('https://app.test/api/b'))).text();
    assert.deepEqual(seen, ['http', 'https']);
  } finally {
    await closeHeadroom();
    upstream.closeAllConnections();
  }
});

test('the factories refuse bad arguments when the route module loads, naming them (not a TypeError per request)', () => {
  const refuses = (fn: () => unknown, message: string | RegExp): void =>
    void assert.throws(fn, { code: 'HEADROOM_CONFIG_INVALID', message });
  refuses(
    () => createHealthRoute('readyz' as never),
    `createHealthRoute(kind): kind="readyz": must be 'health' (the full report), 'live' or 'ready'`,
  );
  for (const mount of ['admin', '/admin/'])
    refuses(
      () => createAdminRoute({ mount }),
      `createAdminRoute: mount=${JSON.stringify(mount)}: must be a path like /admin (letters, digits, . _ ~ -; no trailing slash)`,
    );
  refuses(
    () => createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9', authorize: 'yes' as never }),
    'createProxyRoute() from headroom-memory/next: authorize must be a function (request) => Response | undefined, run before the route; got string',
  );
  refuses(
    () => createImageRoute({ image: { allowedOrigins: [] }, authorize: {} as never }),
    'createImageRoute() from headroom-memory/next: authorize must be a function (request) => Response | undefined, run before the route; got object',
  );
  refuses(
    () => withHeadroom('x' as never),
    'withHeadroom(handler): handler must be your route handler, a function (request, context) => Response; got string',
  );
  // Options too, checked as the parts would check them, before anything is made (next build shows them).
  const proxy = 'createProxyRoute() from headroom-memory/next';
  refuses(
    () => (createProxyRoute as (o?: unknown) => unknown)(),
    `${proxy}: options must be an object ({ upstreamUrl, prefix?, …, headroom?, authorize? }); got undefined`,
  );
  refuses(
    () => createProxyRoute({ upstreamUrl: 'ftp://x' }),
    `${proxy}: upstreamUrl="ftp://x": must be an absolute http or https URL without user:password@`,
  );
  refuses(
    () => createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9', clientTimout: 5 } as never),
    `${proxy}: clientTimout: unknown option; did you mean clientTimeout?`,
  );
  refuses(
    () => createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9', headroom: { metricsToken: 'short' } }),
    new RegExp(`^${proxy.replace(/[()]/g, '\\$&')}: headroom\\.metricsToken=<hidden>: must be 16 to 512`),
  );
  const image = 'createImageRoute() from headroom-memory/next';
  refuses(
    () => (createImageRoute as (o?: unknown) => unknown)(),
    `${image}: options must be an object ({ image: { allowedOrigins, … }, headroom?, authorize? }); got undefined`,
  );
  refuses(
    () => createImageRoute({} as never),
    `${image}: image must be the image service's options ({ allowedOrigins, … }); got undefined`,
  );
  refuses(
    () => createProxyRoute({ upstreamUrl: 'http://127.0.0.1:9', limits: { maxConcurrent: 1 } } as never),
    `${proxy}: limits is not taken by the route: the Headroom supplies them (pass headroom: { limits, monitor } instead)`,
  );
  refuses(
    () => createImageRoute({ image: { allowedOrigins: ['https://a.example'], widths: 3 } as never }),
    `${image}: image.widths: unknown option`,
  );
  refuses(
    () => createMetricsRoute({ metricsToken: 'short' }),
    /^createMetricsRoute\(\) from headroom-memory\/next: metricsToken=<hidden>: must be 16 to 512/,
  );
  refuses(
    () => createAdminRoute({ adminRateLimit: 0 }),
    'createAdminRoute() from headroom-memory/next: adminRateLimit=0: must be an integer between 1 and 100000',
  );
});

test('admin route: the rate limit keys on an X-Forwarded-For IP address; made-up values share one key', async (t) => {
  t.after(() => closeHeadroom());
  const route = createAdminRoute({ adminToken: 'a-token-of-16-chars-or-more', adminRateLimit: 2 });
  const get = async (forwardedFor?: string): Promise<number> => {
    const headers: Record<string, string> = { authorization: 'Bearer wrong-token-guess' };
    if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
    return (await route.GET(new Request('http://app.test/admin/memory-stats', { headers }))).status;
  };
  assert.deepEqual([await get('10.0.0.1'), await get('10.0.0.1, 10.9.9.9'), await get('10.0.0.1')], [401, 401, 429]);
  assert.equal(await get('2001:db8::1'), 401, 'another address has its own window');
  // A new made-up value per request would be a new window each time (and a long one a big key).
  const madeUp = [`x${'y'.repeat(8000)}`, 'not-an-ip', '10.0.0.1.evil', undefined];
  const statuses = [];
  for (const value of madeUp) statuses.push(await get(value));
  assert.deepEqual(statuses, [401, 401, 429, 429]);
});

test("admin route: a token the process's Headroom was made without is refused with the reason, not answered 'the admin API is off'", async (t) => {
  t.after(() => closeHeadroom());
  // instrumentation.ts's `export { register }` made the Headroom with default options.
  await registerHeadroom();
  const token = 'a-token-of-16-chars-or-more';
  const route = createAdminRoute({ adminToken: token });
  await assert.rejects(
    route.GET(new Request('http://app.test/admin/memory-stats', { headers: { authorization: `Bearer ${token}` } })),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
      assert.match(
        err.message,
        /^createAdminRoute\(\) from headroom-memory\/next: the process's Headroom was made without this adminToken \(/,
      );
      assert.match(err.message, /registerHeadroom\(config\) in instrumentation\.ts/);
      assert.doesNotMatch(err.message, new RegExp(token), 'the token is not echoed');
      return true;
    },
  );
  // The same options on both: the route runs (adminRateLimit: 60 written out is the default the Headroom has).
  await closeHeadroom();
  await registerHeadroom({ adminToken: token });
  const same = createAdminRoute({ adminToken: token, adminRateLimit: 60 });
  const ok = await same.GET(new Request('http://app.test/admin/memory-stats', { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(ok.status, 200);
});

test('metrics route: with metricsToken only a scraper sending it gets the text; a token the Headroom was made without is refused', async (t) => {
  t.after(() => closeHeadroom());
  const token = 'scrape-token-0123456789';
  await registerHeadroom({ metricsToken: token });
  const route = createMetricsRoute({ metricsToken: token });
  const get = (authorization?: string): Promise<Response> =>
    route.GET(new Request('http://app.test/metrics', { headers: authorization === undefined ? {} : { authorization } }));
  const none = await get();
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="headroom-metrics"');
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'HEADROOM_UNAUTHORIZED');
  assert.equal((await get('Bearer wrong-token-0123456789')).status, 401);
  const ok = await get(`Bearer ${token}`);
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /^headroom_memory_status /m);
  // A token given to the route only would be ignored, leaving /metrics open: refused with the reason.
  await closeHeadroom();
  await registerHeadroom();
  await assert.rejects(get(`Bearer ${token}`), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'HEADROOM_CONFIG_INVALID');
    assert.match(
      err.message,
      /^createMetricsRoute\(\) from headroom-memory\/next: the process's Headroom was made without this metricsToken \(/,
    );
    assert.doesNotMatch(err.message, new RegExp(token));
    return true;
  });
});

test('what a build-once image sets from the environment at run time may be missing when the module loads; the first request says so', async (t) => {
  t.after(() => closeHeadroom());
  // `next build` evaluates the module without the run-time environment: no throw here.
  const proxyRoute = createProxyRoute({ upstreamUrl: undefined as unknown as string, prefix: '/api' });
  const imageRoute = createImageRoute({ image: { allowedOrigins: undefined as unknown as string[] } });
  await assert.rejects(proxyRoute.GET(new Request('http://app.test/api/x')), {
    code: 'HEADROOM_CONFIG_INVALID',
    message: /upstreamUrl is required/,
  });
  await assert.rejects(imageRoute.GET(new Request('http://app.test/image?url=x')), {
    code: 'HEADROOM_CONFIG_INVALID',
    message: /image\.allowedOrigins is required: .*it was undefined when the route first ran/,
  });
});
