// Response shaping: headers (type, length, Cache-Control, nosniff, CSP for SVG, Vary for
// format=auto), strong ETags, 304 for a matching If-None-Match, and a streamed original's
// pass-through body.
import { Readable } from 'node:stream';
import { HeadroomError } from '../errors.js';
import { etagMatches } from '../cache/etag.js';
import { cacheControl, etagOf, freshFor, SVG_CSP } from './http-headers.js';
import type { Streamed } from './source.js';
import type { ImageCounters } from './stats.js';
import type { ImageMeta, ImageRequest, ImageResponse } from './types.js';

export interface Responder {
  /** 200 with `bytes`, or 304 when the request's If-None-Match matches their ETag. */
  bytes(req: ImageRequest, bytes: Buffer, type: string, maxAge: number, vary: boolean): ImageResponse;
  /** 304 from cached metadata alone (a streamed original with an origin ETag), or undefined. */
  notModified(req: ImageRequest, meta: ImageMeta | undefined): ImageResponse | undefined;
  /** 200 streaming a large original through; the body disposes of the source when it ends or closes. */
  stream(src: Streamed): ImageResponse;
  /** The strong ETag of a Buffer the cache holds, hashed once per Buffer instead of on every hit. */
  etagFor(bytes: Buffer): string;
}

/**
 * `clientReadTimeout` (the gateway's CLIENT_READ_TIMEOUT): longest a client may leave a
 * passed-through original unread before the response is cut and the origin's connection (with its
 * admission slot) let go.
 */
export function createResponder(counters: ImageCounters, clientReadTimeout: number): Responder {
  const { c } = counters;
  const etags = new WeakMap<Buffer, string>();
  const etagFor = (bytes: Buffer): string => {
    let etag = etags.get(bytes);
    if (etag === undefined) etags.set(bytes, (etag = etagOf(bytes)));
    return etag;
  };

  /**
   * The origin must deliver the rest within what was left of IMAGE_TIMEOUT, counted only while
   * waiting for it: an origin trickling bytes cannot hold the request (and its admission slot)
   * open. The client reads at its own pace, but must take a chunk within clientReadTimeout of its being
   * ready (`cut` ends the response): a client that stops reading cannot hold them either. The
   * generator waits at a yield only while the body's buffer is full, i.e. while the client reads nothing.
   */
  async function* passThrough(src: Streamed, cut: (err: HeadroomError) => void): AsyncGenerator<Buffer> {
    let left = src.res.left();
    const rest = src.rest[Symbol.asyncIterator]();
    let stall: NodeJS.Timeout | undefined;
    const waitForClient = (): void => {
      stall = setTimeout(() => {
        const err = new HeadroomError(
          'HEADROOM_REQUEST_TIMEOUT',
          `the client took none of the image for ${clientReadTimeout} ms (clientReadTimeout, the gateway's CLIENT_READ_TIMEOUT); connection closed`,
        );
        counters.reject(err);
        src.dispose();
        cut(err);
      }, clientReadTimeout);
    };
    try {
      c.bytesServed += src.head.length;
      waitForClient();
      yield src.head;
      clearTimeout(stall);
      for (;;) {
        const waitFrom = performance.now();
        let late = false;
        // Disposing destroys the origin's body, so the pending read below ends and the response is cut.
        const timer = setTimeout(() => {
          late = true;
          src.dispose();
        }, left);
        let next: IteratorResult<Buffer> | undefined;
        try {
          next = await rest.next();
        } catch (err) {
          if (!late) throw err;
        } finally {
          clearTimeout(timer);
        }
        if (late || next === undefined) {
          // The status is sent: the cut response is all the client gets; the rejection is counted here.
          const err = new HeadroomError(
            'HEADROOM_IMAGE_TIMEOUT',
            `image origin ${src.res.url.origin} did not deliver within IMAGE_TIMEOUT`,
          );
          counters.reject(err);
          throw err;
        }
        left -= performance.now() - waitFrom;
        if (next.done) return;
        c.bytesServed += next.value.length;
        waitForClient();
        yield next.value;
        clearTimeout(stall);
      }
    } finally {
      clearTimeout(stall);
      src.dispose();
    }
  }

  return {
    etagFor,
    bytes(req, bytes, type, maxAge, vary) {
      const etag = etagFor(bytes);
      const headers: Record<string, string> = { 'cache-control': cacheControl(maxAge), etag, 'x-content-type-options': 'nosniff' };
      if (vary) headers.vary = 'Accept';
      if (etagMatches(req.ifNoneMatch, etag)) {
        c.notModified++;
        return { status: 304, headers };
      }
      headers['content-type'] = type;
      headers['content-length'] = String(bytes.length);
      if (type === 'image/svg+xml') headers['content-security-policy'] = SVG_CSP;
      c.bytesServed += bytes.length;
      return { status: 200, headers, body: bytes };
    },
    notModified(req, meta) {
      if (!meta?.etag || !etagMatches(req.ifNoneMatch, meta.etag)) return undefined;
      c.notModified++;
      return {
        status: 304,
        headers: { 'cache-control': cacheControl(freshFor(meta)), etag: meta.etag, 'x-content-type-options': 'nosniff' },
      };
    },
    stream(src) {
      c.passThrough++;
      // The client reads at its own pace now; undici's body (idle) timeout still applies.
      src.res.clearDeadline();
      const headers: Record<string, string> = {
        'content-type': src.meta.contentType,
        'cache-control': cacheControl(src.meta.maxAge),
        'x-content-type-options': 'nosniff',
      };
      if (src.meta.bytes !== null) headers['content-length'] = String(src.meta.bytes);
      if (src.meta.etag) headers.etag = src.meta.etag;
      if (src.meta.format === 'svg') headers['content-security-policy'] = SVG_CSP;
      // A body destroyed before its first read never enters passThrough's finally: dispose on close.
      const body: Readable = Readable.from(passThrough(src, (err) => body.destroy(err)));
      body.once('close', src.dispose);
      return { status: 200, headers, body };
    },
  };
}
