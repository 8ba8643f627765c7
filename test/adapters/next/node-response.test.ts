// The Next.js adapter's in-flight count at the Node.js layer (src/adapters/next/node-response.ts):
// a real HTTP server hands its requests to withHeadroom as Next.js does (a Web Request whose signal
// aborts when the response closes unfinished, the Response's body written to the Node response).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { hasSubscribers } from 'node:diagnostics_channel';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeHeadroom, getHeadroom, withHeadroom, type RouteHandler } from '../../../src/adapters/next/index.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor, waitForCollection } from '../../helpers/wait.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** What Next.js does with a route handler, reduced: Web Request in, its Response written out. */
async function serve(route: RouteHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const answer = await route(new Request(`http://app.test${req.url}`, { signal: abort.signal }));
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

test('work a handler leaves behind does not keep its response alive, and a second wrapper counts by the body', async (t) => {
  t.after(() => closeHeadroom());
  const h = getHeadroom();
  let ref: WeakRef<ServerResponse> | undefined;
  let timer: NodeJS.Timeout | undefined;
  t.after(() => clearInterval(timer));
  let inner: Response | undefined;
  let outer: Response | undefined;
  // Wrapped twice: the outer wrapper takes the Node.js response, the inner one finds none and
  // wraps the body; the request is counted by both and released by both.
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
  assert.notEqual(outer, inner, 'the inner wrapper wrapped the body');
  await waitFor(() => h.requests().inFlight === 0, 'released by both wrappers');
  await waitForCollection(ref!, 'the finished response collected while the timer runs');
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

test('closeHeadroom() stops watching HTTP requests and leaves no active handle', async () => {
  await closeHeadroom();
  assert.equal(hasSubscribers('http.server.request.start'), false);
  await assertNoLeakedHandles(async () => {
    getHeadroom();
    assert.equal(hasSubscribers('http.server.request.start'), true);
    await closeHeadroom();
    await closeHeadroom();
  });
  assert.equal(hasSubscribers('http.server.request.start'), false);
});
