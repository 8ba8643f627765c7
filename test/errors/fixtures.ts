// Real servers shared by the per-code cases (test/errors.test.ts): an origin that serves JSON and
// images and misbehaves on purpose, and a gateway in front of it configured so that each of its
// error paths is cheap to reach. Both start on first use and close in closeShared().
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import type { ErrorCode } from '../../src/errors.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import type { TestResponse } from '../helpers/http.js';
import { jsonBody, type RawReply } from '../helpers/raw-http.js';

/** What a case saw: the code and the HTTP status (of a response, or of a thrown HeadroomError). */
export interface Raised {
  code: string;
  status: number;
}

/** Makes real code raise one code. */
export type Case = () => Promise<Raised>;
export type Cases = Partial<Record<ErrorCode, Case>>;

export const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

export function fromResponse(r: TestResponse): Raised {
  return { status: r.status, code: (r.json() as { error?: { code?: string } }).error?.code ?? `(no error body: ${r.text.slice(0, 100)})` };
}

export function fromRaw(r: RawReply): Raised {
  return { status: r.status, code: jsonBody(r).error?.code ?? '(no error body)' };
}

/** The code and status of the HeadroomError `p` rejects with. */
export async function fromRejection(p: Promise<unknown>): Promise<Raised> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; statusCode?: number };
    return { code: String(e.code), status: e.statusCode ?? 0 };
  }
  assert.fail('expected a rejection');
}

export async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

export { FakePressure } from '../helpers/pressure.js';

export interface Origin {
  url: string;
  /** Ends the responses held by /hang (so that whatever waits on them can close). */
  release(): void;
}

let origin: Promise<{ origin: Origin; server: Server }> | undefined;

/**
 * /img.png a small PNG; /big.png a PNG over 2 KiB; /text not an image; /fail 500; /hang never
 * answers until release(); /bad-chunk a response with broken chunked framing; a POST answers once
 * its body has arrived; anything else JSON.
 */
export function sharedOrigin(): Promise<Origin> {
  origin ??= (async () => {
    const small = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3a7' } })
      .png()
      .toBuffer();
    const big = await sharp(randomBytes(64 * 64 * 3), { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toBuffer();
    const hanging = new Set<ServerResponse>();
    const server = createServer((req, res) => {
      const png = (b: Buffer) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': b.length }).end(b);
      req.resume();
      if (req.method === 'POST') req.once('end', () => res.end('uploaded'));
      else if (req.url === '/img.png') png(small);
      else if (req.url === '/big.png') png(big);
      else if (req.url === '/text') res.writeHead(200, { 'content-type': 'image/png' }).end('not an image at all');
      else if (req.url === '/fail') res.writeHead(500).end('boom');
      else if (req.url === '/hang') {
        hanging.add(res);
        res.once('close', () => hanging.delete(res));
      } else if (req.url === '/bad-chunk') req.socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const url = await listen(server);
    const release = (): void => {
      for (const res of hanging) res.writeHead(200).end();
    };
    return { origin: { url, release }, server };
  })();
  return origin.then((o) => o.origin);
}

let gateway: Promise<TestGateway> | undefined;

/** A gateway with an admin token and small limits (body, snapshot directory, timeouts, image source). */
export function sharedGateway(): Promise<TestGateway> {
  gateway ??= sharedOrigin().then((o) =>
    startGateway({
      UPSTREAM_URL: o.url,
      HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
      HEADROOM_BODY_LIMIT: '1KiB',
      HEAP_SNAPSHOT_DIR_MAX_BYTES: '1MiB',
      // Short enough for the cases that wait them out, long enough that a loaded CI machine does not
      // turn another case into a timeout (IMAGE_TIMEOUT at 100 ms once made /big.png time out).
      CLIENT_TIMEOUT: '500ms',
      STREAM_TIMEOUT: '500ms',
      IMAGE_ALLOWED_ORIGINS: o.url,
      IMAGE_ALLOW_PRIVATE_ORIGINS: o.url,
      IMAGE_MAX_SOURCE_BYTES: '2KiB',
      IMAGE_TIMEOUT: '500ms',
    }),
  );
  return gateway;
}

export async function closeShared(): Promise<void> {
  const g = gateway;
  const o = origin;
  gateway = undefined;
  origin = undefined;
  (await o)?.origin.release();
  await (await g)?.close();
  if (o) await stop((await o).server);
}
