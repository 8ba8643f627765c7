// The Next.js adapter's in-flight count at the Node.js layer (src/adapters/next/server-requests.ts):
// a real HTTP server hands its requests to the route handlers as Next.js does (a Web Request whose
// signal aborts when the response closes unfinished, the Response's body written to the Node
// response). The first headroom route teaches which server is Next.js's; from then on that server's
// requests count from their start, and the AsyncLocalStorage used to learn it is off.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { executionAsyncResource } from 'node:async_hooks';
import { hasSubscribers } from 'node:diagnostics_channel';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import {
  closeHeadroom,
  createImageRoute,
  createMetricsRoute,
  createProxyRoute,
  getHeadroom,
  registerHeadroom,
  withHeadroom,
  type RouteHandler,
} from '../../../src/adapters/next/index.js';
import { LEARNING_REQUESTS } from '../../../src/adapters/next/server-requests.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor, waitForCollection } from '../../helpers/wait.js';
import { sendPadded } from '../../helpers/padded.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The Web Request Next.js gives a route handler for a Node.js request: its URL from the Host header, the same headers. */
function webRequest(req: IncomingMessage, signal?: AbortSignal): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  return new Request(`http://${req.headers.host ?? 'app.test'}${req.url}`, { method: req.method, headers, signal });
}

/** What Next.js does with a route handler, reduced: Web Request in, its Response written out. */
async function serve(route: RouteHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let answer: Response;
  try {
    answer = await route(webRequest(req, abort.signal));
  } catch {
    return void res.writeHead(500).end(); // as Next.js answers a handler that threw
  }
  res.writeHead(answer.status, Object.fromEntries(answer.headers));
  if (!answer.body) return void res.end();
  try {
    for await (const chunk of answer.body) res.write(chunk);
    res.end();
  } catch {
    res.destroy();
  }
}

/** A loopback server running `route` the Next.js way; `before` runs ahead of it for each request, `see` is shown its response. */
async function start(t: TestContext, route: RouteHandler, before?: () => void, see?: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    before?.();
    see?.(res);
    void serve(route, req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A GET whose response arrives chunk by chunk: `chunk()` resolves with the next one, '' at the end. */
function get(url: string): { chunk: () => Promise<string>; destroy: () => void } {
  const queue: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  const push = (s: string): void => {
    const waiter = waiting.shift();
    if (waiter) waiter(s);
    else queue.push(s);
  };
  const req = httpRequest(url, { agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', push).on('end', () => push(''));
  });
  req.on('error', () => push('')).end();
  return {
    chunk: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))),
    destroy: () => req.destroy(),
  };
}

test('through a Node.js HTTP server the handler Response goes out untouched and counts in flight until the response closes', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  let source!: ReadableStreamDefaultController<Uint8Array>;
  let inner: Response | undefined;
  let outer: Response | undefined;
  const handler = withHeadroom(async () => {
    inner = new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          source = c;
          c.enqueue(bytes('a'));
        },
      }),
    );
    return inner;
  });
  const url = await start(t, async (request) => (outer = await handler(request)));
  const client = get(`${url}/app/stream`);
  assert.equal(await client.chunk(), 'a');
  assert.equal(outer, inner, 'not wrapped');
  assert.equal(h.requests().inFlight, 1, 'counted while the body streams');
  source.enqueue(bytes('b'));
  assert.equal(await client.chunk(), 'b');
  assert.equal(h.requests().inFlight, 1);
  source.close();
  assert.equal(await client.chunk(), '');
  await waitFor(() => h.requests().inFlight === 0, 'released when the response has been written');
});

test('through a Node.js HTTP server a client that leaves releases the slot while the handler still runs', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  let finish!: () => void;
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const handler = withHeadroom(
    () =>
      new Promise<Response>((r) => {
        started();
        finish = () => r(Response.json({ late: true }));
      }),
  );
  const url = await start(t, handler);
  const client = get(`${url}/app/slow`);
  await running;
  assert.equal(h.requests().inFlight, 1);
  client.destroy();
  await waitFor(() => h.requests().inFlight === 0, 'released when the client left');
  finish();
  await new Promise((r) => setImmediate(r));
  assert.equal(h.requests().inFlight, 0, 'counted once');
});

test('work a handler leaves behind does not keep its response alive, and a second wrapper does not count the request again', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  let ref: WeakRef<ServerResponse> | undefined;
  let timer: NodeJS.Timeout | undefined;
  t.after(() => clearInterval(timer));
  let inner: Response | undefined;
  let outer: Response | undefined;
  // Wrapped twice: the outer wrapper takes the Node.js response (and with it the server), the inner
  // one finds the server known and counting: the request is counted once.
  const handler = withHeadroom(
    withHeadroom(async () => {
      // A timer started while handling inherits the request's async context, and outlives it.
      timer = setInterval(() => undefined, 60_000);
      inner = Response.json({ ok: true });
      return inner;
    }),
  );
  const url = await start(
    t,
    async (request) => (outer = await handler(request)),
    undefined,
    (res) => (ref = new WeakRef(res)),
  );
  const client = get(`${url}/app/timer`);
  assert.equal(await client.chunk(), '{"ok":true}');
  assert.equal(await client.chunk(), '');
  assert.equal(outer, inner, 'neither wrapper wrapped the body');
  await waitFor(() => h.requests().inFlight === 0, 'released');
  await waitForCollection(ref!, 'the finished response collected while the timer runs');
});

/** The AsyncLocalStorage stores a new async resource carries here (Node.js 20 and 22 keep one symbol per enabled storage on it). */
async function storesOnNewResources(): Promise<number> {
  await null;
  return Object.getOwnPropertySymbols(executionAsyncResource()).filter((s) => s.description === 'kResourceStore').length;
}

test('once a route has taught the server, its other requests count in flight from their start; no AsyncLocalStorage is ever enabled', async (t) => {
  await closeHeadroom();
  t.after(() => closeHeadroom());
  // An AsyncLocalStorage enabled even briefly left every later request of a Next.js app allocating more (Node.js 20).
  const before = await storesOnNewResources();
  const h = getHeadroom();
  const hello = withHeadroom(async () => Response.json({ hello: 'world' }));
  let page: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stores: number[] = [];
  const url = await start(t, async (request) => {
    stores.push(await storesOnNewResources());
    if (new URL(request.url).pathname === '/app/hello') return hello(request);
    // A page: nothing of headroom runs for it.
    return new Response(new ReadableStream<Uint8Array>({ start: (c) => void (page = c) }));
  });
  const early = get(`${url}/page`); // before the server is known: not counted
  const first = await waitFor(() => page, 'the early page answering');
  assert.equal(h.requests().inFlight, 0, 'not counted while learning');
  first.close();
  page = undefined;
  assert.equal(await early.chunk(), '');
  assert.equal((await fetch(`${url}/app/hello`)).status, 200); // teaches the server
  const client = get(`${url}/page`);
  const later = await waitFor(() => page, 'the page answering');
  later.enqueue(bytes('p'));
  assert.equal(await client.chunk(), 'p');
  assert.equal(h.requests().inFlight, 1, 'the page counts while it streams');
  later.close();
  assert.equal(await client.chunk(), '');
  await waitFor(() => h.requests().inFlight === 0, 'the page left the count');
  assert.deepEqual(stores, [before, before, before], 'no store copied into async resources, while learning or after');
});

test('a request that started while learning and is still unanswered when the server is learned counts from then on; a finished one is not held', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  const hello = withHeadroom(async () => Response.json({ hello: 'world' }));
  let page: ReadableStreamDefaultController<Uint8Array> | undefined;
  let first: WeakRef<ServerResponse> | undefined;
  const url = await start(
    t,
    async (request) => {
      if (new URL(request.url).pathname === '/app/hello') return hello(request);
      return new Response(new ReadableStream<Uint8Array>({ start: (c) => void (page = c) }));
    },
    undefined,
    (res) => void (first ??= new WeakRef(res)),
  );
  // Finished while learning: collected as in the bare app, and never counted.
  const done = get(`${url}/page/done`);
  (await waitFor(() => page, 'the first page answering')).close();
  assert.equal(await done.chunk(), '');
  page = undefined;
  await waitForCollection(first!, 'the finished response collected while learning');
  const early = get(`${url}/page/early`);
  const open = await waitFor(() => page, 'the early page answering');
  open.enqueue(bytes('e'));
  assert.equal(await early.chunk(), 'e');
  assert.equal(h.requests().inFlight, 0, 'not counted while learning');
  assert.equal((await fetch(`${url}/app/hello`)).status, 200); // teaches the server
  assert.equal(h.requests().inFlight, 1, 'the early page, still streaming, counts once the server is known');
  open.close();
  assert.equal(await early.chunk(), '');
  await waitFor(() => h.requests().inFlight === 0, 'the early page left the count');
});

test('withHeadroom answers a promise whether the handler returns one, a Response, or throws synchronously; nothing stays counted', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  const promises: boolean[] = [];
  const routes: Record<string, RouteHandler> = {
    '/sync': withHeadroom((() => new Response('sync')) as unknown as RouteHandler),
    '/throws': withHeadroom((() => {
      throw new Error('boom');
    }) as unknown as RouteHandler),
  };
  const url = await start(t, (request) => {
    const answer = routes[new URL(request.url).pathname]!(request);
    promises.push(answer instanceof Promise);
    return answer;
  });
  // The first request teaches the server (counted on its response); the later ones are counted as they start.
  for (const path of ['/sync', '/throws', '/sync', '/throws']) {
    const r = await fetch(`${url}${path}`);
    assert.equal(r.status, path === '/sync' ? 200 : 500, path);
    await r.text();
  }
  assert.deepEqual(promises, [true, true, true, true]);
  await waitFor(() => h.requests().inFlight === 0, 'nothing left in flight');
});

test('requests of another server in the process are not counted', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  const url = await start(
    t,
    withHeadroom(async () => Response.json({ ok: true })),
  );
  assert.equal((await fetch(`${url}/app/ok`)).status, 200);
  let held: ReadableStreamDefaultController<Uint8Array> | undefined;
  const other = await start(t, async () => new Response(new ReadableStream<Uint8Array>({ start: (c) => void (held = c) })));
  const client = get(`${other}/elsewhere`);
  const answering = await waitFor(() => held, "the other server's answer streaming");
  answering.enqueue(bytes('x'));
  assert.equal(await client.chunk(), 'x');
  assert.equal(h.requests().inFlight, 0, "the other server's open response is not counted");
  answering.close();
  assert.equal(await client.chunk(), '');
});

/** A server in the process that is not Next.js's: each request is answered in part and held open. */
async function otherServer(t: TestContext): Promise<{ url: string; hold: (path: string, host: string) => Promise<() => Promise<void>> }> {
  const held: ReadableStreamDefaultController<Uint8Array>[] = [];
  const url = await start(t, async () => new Response(new ReadableStream<Uint8Array>({ start: (c) => void held.push(c) })));
  /** A GET with the Host header given, answered in part and held open until the returned function is called. */
  const hold = async (path: string, host: string): Promise<() => Promise<void>> => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const n = held.length;
    const answering = await waitFor(() => held[n], "the other server's answer streaming");
    answering.enqueue(bytes('x'));
    await new Promise((r) => socket.once('data', r));
    return async () => {
      answering.close();
      socket.destroy();
      await new Promise((r) => socket.once('close', r));
    };
  };
  return { url, hold };
}

/** Whether Next.js's server is known: a page of it counts in flight while it streams. */
async function pageCounts(
  h: ReturnType<typeof getHeadroom>,
  url: string,
  pages: { next?: ReadableStreamDefaultController<Uint8Array> },
): Promise<boolean> {
  pages.next = undefined;
  const client = get(`${url}/page`);
  const answering = await waitFor(() => pages.next, 'the page answering');
  answering.enqueue(bytes('p'));
  assert.equal(await client.chunk(), 'p');
  const counted = h.requests().inFlight === 1;
  answering.close();
  assert.equal(await client.chunk(), '');
  await waitFor(() => h.requests().inFlight === 0, 'nothing in flight');
  return counted;
}

test("learning is not misled by another server's unanswered request: its Host or path tells them apart, and the same method, Host and path make it wait", async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  const hello = withHeadroom(async () => Response.json({ hello: 'world' }));
  const pages: { next?: ReadableStreamDefaultController<Uint8Array> } = {};
  const url = await start(t, async (request) => {
    if (new URL(request.url).pathname === '/app/hello') return hello(request);
    return new Response(new ReadableStream<Uint8Array>({ start: (c) => void (pages.next = c) }));
  });
  const other = await otherServer(t);
  const appHost = new URL(url).host;
  // The same method, Host and path as the app's request, on another server: the moment is ambiguous.
  const endSame = await other.hold('/app/hello', appHost);
  assert.equal((await fetch(`${url}/app/hello`)).status, 200);
  assert.equal(await pageCounts(h, url, pages), false, 'not learned while ambiguous');
  await endSame();
  // Another server's requests for its own Host, and for the app's Host at another path: the app's request is told apart.
  const endOwn = await other.hold('/app/hello', new URL(other.url).host);
  const endPath = await other.hold('/elsewhere', appHost);
  assert.equal((await fetch(`${url}/app/hello`)).status, 200);
  assert.equal(h.requests().inFlight, 0, "the other server's open requests are not counted");
  assert.equal(await pageCounts(h, url, pages), true, 'learned');
  await endOwn();
  await endPath();
});

test("a direct call (a Request without Host) or one that started before the Headroom existed learns nothing from another server's requests", async (t) => {
  await closeHeadroom();
  t.after(() => closeHeadroom());
  let h: ReturnType<typeof getHeadroom> | undefined;
  let release: (() => void) | undefined;
  const slow = withHeadroom(() => new Promise<Response>((r) => (release = () => r(new Response('ok')))));
  const pages: { next?: ReadableStreamDefaultController<Uint8Array> } = {};
  let open!: () => void;
  let gate: Promise<void> | undefined = new Promise((r) => (open = r));
  // The Headroom is made as the first request arrives, after the server saw it start; that request's
  // handler runs only once the gate opens.
  const url = await start(
    t,
    async (request) => {
      if (new URL(request.url).pathname !== '/app/slow')
        return new Response(new ReadableStream<Uint8Array>({ start: (c) => void (pages.next = c) }));
      const waiting = gate;
      gate = undefined;
      await waiting;
      return slow(request);
    },
    () => void (h ??= getHeadroom()),
  );
  const other = await otherServer(t);
  const early = get(`${url}/app/slow`);
  await waitFor(() => h, 'the Headroom made by the first request');
  // While it waits, another server holds a GET for the app's Host (a proxy in front of both may send that).
  const endOther = await other.hold('/elsewhere', new URL(url).host);
  // A direct call: no Host.
  const direct = slow(new Request(`${url}/app/slow`));
  await waitFor(() => release, 'the direct call in its handler');
  assert.equal(h!.requests().inFlight, 1, 'the direct call counted by its body');
  release!();
  release = undefined;
  assert.equal(await (await direct).text(), 'ok');
  open();
  await waitFor(() => release, 'the early request in its handler');
  assert.equal(h!.requests().inFlight, 1, 'the early request counted by its body');
  release!();
  release = undefined;
  assert.equal(await early.chunk(), 'ok');
  await waitFor(() => h!.requests().inFlight === 0, 'nothing in flight');
  await endOther();
  // The other server was not learned: its requests are not counted; the app's next request teaches the app's server.
  const endLater = await other.hold('/later', new URL(other.url).host);
  assert.equal(h!.requests().inFlight, 0, "the other server's request is not counted");
  await endLater();
  const next = get(`${url}/app/slow`);
  await waitFor(() => release, 'a request that started after the Headroom');
  release!();
  assert.equal(await next.chunk(), 'ok');
  assert.equal(await pageCounts(h!, url, pages), true, "the app's server learned");
});

test('a metrics scrape leaves itself out of the count once its path has been seen', async (t) => {
  t.after(() => closeHeadroom());
  getHeadroom();
  const metrics = createMetricsRoute().GET;
  const ok = withHeadroom(async () => Response.json({ ok: true }));
  const url = await start(t, (request) => (new URL(request.url).pathname === '/metrics' ? metrics(request) : ok(request)));
  assert.equal((await fetch(`${url}/app/ok`)).status, 200); // teaches the server: from now on requests count as they start
  const inFlight = async (): Promise<number> =>
    Number(/^headroom_app_requests_in_flight (\S+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
  // The first scrape was counted as it started, before the route had seen its path.
  assert.equal(await inFlight(), 0);
  assert.equal(await inFlight(), 0);
});

test('an own path is one however many trailing slashes its requests carry (clients cannot fill the set of own paths)', async (t) => {
  t.after(() => closeHeadroom());
  getHeadroom();
  const metrics = createMetricsRoute().GET;
  const ok = withHeadroom(async () => Response.json({ ok: true }));
  // As Next.js routes with skipTrailingSlashRedirect: /metrics/ and /metrics// reach the metrics route.
  const url = await start(t, (request) =>
    new URL(request.url).pathname.replace(/\/+$/, '') === '/metrics' ? metrics(request) : ok(request),
  );
  assert.equal((await fetch(`${url}/app/ok`)).status, 200);
  const inFlight = async (path: string): Promise<number> =>
    Number(/^headroom_app_requests_in_flight (\S+)$/m.exec(await (await fetch(`${url}${path}`)).text())?.[1]);
  for (let slashes = 1; slashes <= 70; slashes++) await inFlight(`/metrics${'/'.repeat(slashes)}`);
  assert.equal(await inFlight(`/metrics${'/'.repeat(71)}`), 0, 'a scrape at a new variant leaves itself out');
  assert.equal(await inFlight('/metrics'), 0);
});

test(`learning stops after ${LEARNING_REQUESTS} requests that no headroom route took, and starts again when one runs`, async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  const hello = withHeadroom(async () => Response.json({ hello: 'world' }));
  const url = await start(t, async (request) => (new URL(request.url).pathname === '/app/hello' ? hello(request) : new Response('page')));
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  const page = (): Promise<void> =>
    new Promise((resolve, reject) => {
      httpRequest(`${url}/page`, { agent }, (res) => res.resume().once('end', resolve))
        .once('error', reject)
        .end();
    });
  let sent = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < LEARNING_REQUESTS + 1) {
        sent++;
        await page();
      }
    }),
  );
  assert.equal(hasSubscribers('http.server.request.start'), false, 'stopped learning');
  // A headroom route runs again: this request is counted by its body, the next one teaches the server.
  assert.deepEqual(await (await fetch(`${url}/app/hello`)).json(), { hello: 'world' });
  assert.equal(hasSubscribers('http.server.request.start'), true, 'learning again');
  assert.equal((await fetch(`${url}/app/hello`)).status, 200);
  const client = get(`${url}/page`);
  assert.equal(await client.chunk(), 'page');
  await waitFor(() => h.requests().inFlight === 0, 'nothing left in flight');
});

test('a request that reached the server before the Headroom existed is tracked by its body instead', async (t) => {
  await closeHeadroom();
  t.after(() => closeHeadroom());
  let inner: Response | undefined;
  let outer: Response | undefined;
  let source!: ReadableStreamDefaultController<Uint8Array>;
  const handler = withHeadroom(async () => {
    inner = new Response(new ReadableStream<Uint8Array>({ start: (c) => void (source = c) }));
    return inner;
  });
  // The Headroom (and with it the hook) is made after the server saw the request start.
  const url = await start(
    t,
    async (request) => (outer = await handler(request)),
    () => getHeadroom(),
  );
  const client = get(`${url}/app/early`);
  const first = client.chunk();
  await waitFor(() => outer, 'the handler answered');
  assert.notEqual(outer, inner, 'wrapped');
  assert.equal(getHeadroom().requests().inFlight, 1);
  source.enqueue(bytes('x'));
  source.close();
  assert.equal(await first, 'x');
  assert.equal(await client.chunk(), '');
  assert.equal(getHeadroom().requests().inFlight, 0);
});

/**
 * A loopback server writing `route`'s Responses as Next.js does: each chunk waits for the socket to
 * drain before the next, and an error of the body stream is only seen after that wait. Its port.
 */
async function drainingServer(t: TestContext, route: RouteHandler): Promise<number> {
  const server = createServer((req, res) => {
    void (async () => {
      const answer = await route(webRequest(req));
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      try {
        for await (const c of answer.body!) if (!res.write(c)) await new Promise((r) => res.once('drain', r));
        res.end();
      } catch {
        res.destroy();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

/** A download the client stops reading, through `route`, is cut (and its count released) within 10 s. */
async function stalledDownloadIsCut(
  t: TestContext,
  makeRoute: (upstreamUrl: string) => Promise<{ GET: RouteHandler }>,
  target = '/api/big',
): Promise<void> {
  t.after(() => closeHeadroom());
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const upstream = createServer((req, res) => {
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 1200).unref();
    if (req.url === '/small') return void res.end('small');
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump(); // for ever, as fast as it is taken
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(async () => {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  });
  const route = await makeRoute(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  const port = await drainingServer(t, route.GET);
  const h = getHeadroom();
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/api/small`)).text(), 'small', 'teaches the server');
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/api/slow`)).text(), 'late', 'waiting for the upstream is not a stall');
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(`GET ${target} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  socket.pause(); // never reads: the kernel's buffers fill, Next's writer waits for a drain that never comes
  await waitFor(() => h.requests().inFlight === 1, 'the download in flight');
  await waitFor(() => h.requests().inFlight === 0, 'the stalled response cut and its count released', 10_000);
  socket.destroy();
}

test('a client that stops reading a proxied download is cut once the server is known; a slow upstream is not', (t) =>
  stalledDownloadIsCut(t, async (upstreamUrl) => createProxyRoute({ upstreamUrl, prefix: '/api', clientReadTimeout: 400 })));

test('a target with dot segments the server routes to the proxy (/x/../api/big, /%2e/api/big) is watched as /api/big', async (t) => {
  for (const target of ['/x/../api/big', '/%2e/api/big']) {
    await t.test(target, (tt) =>
      stalledDownloadIsCut(tt, async (upstreamUrl) => createProxyRoute({ upstreamUrl, prefix: '/api', clientReadTimeout: 400 }), target),
    );
  }
});

test("the stall watch takes the clientReadTimeout of the Headroom's proxy the route runs on, not the route's default", (t) =>
  stalledDownloadIsCut(t, async (upstreamUrl) => {
    // As the docs' pattern: clientReadTimeout in the shared config register() got, the route gives only where to.
    await registerHeadroom({ proxy: { upstreamUrl, prefix: '/api', clientReadTimeout: 400 } });
    return createProxyRoute({ upstreamUrl, prefix: '/api' });
  }));

test('a client that stops reading a passed-through image is cut once the server is known', async (t) => {
  t.after(() => closeHeadroom());
  // A 1×1 PNG and then PADDING zeros: more than every buffer between the app and a client that
  // does not read; passed through whole (maxCacheSize 0), as Next.js writes it, waiting for drains.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  // /small.png teaches the server quickly; /big.png is the one not read (32 MiB through this busy
  // process could take longer than the 2 s the origin has for a whole body).
  const origin = createServer((req, res) =>
    req.url === '/small.png' ? res.writeHead(200, { 'content-type': 'image/png' }).end(png) : sendPadded(res, png, 'image/png'),
  );
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  t.after(async () => {
    origin.closeAllConnections();
    await new Promise((r) => origin.close(r));
  });
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const route = createImageRoute({
    image: { allowedOrigins: [originUrl], allowPrivateOrigins: [originUrl], maxCacheSize: 0, timeout: 2000, clientReadTimeout: 2000 },
  });
  const port = await drainingServer(t, route.GET);
  const h = getHeadroom();
  const path = `/image?url=${encodeURIComponent(`${originUrl}/big.png`)}`;
  // It teaches the server at `/image/` (Next.js keeps the slash with skipTrailingSlashRedirect):
  // `/image` is still watched.
  const first = await fetch(`http://127.0.0.1:${port}/image/?url=${encodeURIComponent(`${originUrl}/small.png`)}`);
  assert.equal((await first.arrayBuffer()).byteLength, png.length);
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  socket.pause();
  await waitFor(() => h.requests().inFlight === 1, 'the image in flight');
  await waitFor(() => h.requests().inFlight === 0, 'the stalled response cut and its count released', 10_000);
  socket.destroy();
});

test('closeHeadroom() stops learning or counting and leaves no active handle', async (t) => {
  await closeHeadroom();
  assert.equal(hasSubscribers('http.server.request.start'), false);
  await assertNoLeakedHandles(async () => {
    getHeadroom();
    assert.equal(hasSubscribers('http.server.request.start'), true, 'learning');
    await closeHeadroom();
    await closeHeadroom();
  });
  assert.equal(hasSubscribers('http.server.request.start'), false);
  // Counting (the server learned): closing stops it too.
  const url = await start(
    t,
    withHeadroom(async () => Response.json({ ok: true })),
  );
  assert.equal((await fetch(`${url}/app/ok`)).status, 200);
  assert.equal(hasSubscribers('http.server.request.start'), true, 'counting');
  await closeHeadroom();
  assert.equal(hasSubscribers('http.server.request.start'), false);
});
