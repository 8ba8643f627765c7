// gzip/deflate for the gateway's own responses (health, metrics, admin), per COMPRESSION_*.
//
// Written here rather than taken from @fastify/compress: that plugin loads mime-db,
// readable-stream and minipass at start-up, ~5 MiB of RSS in an idle gateway (bench/footprint),
// for features these routes never use (streams, brotli/zstd, decompression, MIME lookups). Our own
// routes send strings and Buffers of JSON or text, which is all this handles; any other payload
// (a stream) goes out as it is. Semantics follow @fastify/compress where they meet: content
// negotiation with q-values ("x-gzip" is gzip, "*" any, "identity" or q=0 none), its default
// compressible types, the byte threshold, Vary: accept-encoding, nothing for x-no-compression,
// partial content or an already encoded body.
import { deflate, deflateSync, gzip, gzipSync, type ZlibOptions } from 'node:zlib';
import { promisify } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export type Encoding = 'gzip' | 'deflate';

export interface CompressOptions {
  threshold: number;
  level: number;
}

// @fastify/compress's default compressible types (text/* but event streams, JSON, XML, …).
const COMPRESSIBLE = /^text\/(?!event-stream)|(?:\+|\/)json(?:;|$)|(?:\+|\/)text(?:;|$)|(?:\+|\/)xml(?:;|$)|octet-stream(?:;|$)/u;
// Larger bodies are compressed on the thread pool instead of blocking the event loop.
const SYNC_MAX_BYTES = 64 * 1024;
const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);

/** The encoding to answer `accept-encoding` with, or undefined for none (RFC 9110 §12.5.3). */
export function negotiateEncoding(header: string | undefined): Encoding | undefined {
  if (!header) return undefined;
  const q: Record<Encoding, number | undefined> = { gzip: undefined, deflate: undefined };
  let any: number | undefined;
  for (const item of header.toLowerCase().split(',')) {
    const [token = '', ...params] = item.split(';').map((s) => s.trim());
    let weight = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([01](?:\.\d{0,3})?)$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    const name = token === 'x-gzip' ? 'gzip' : token;
    if (name === 'gzip' || name === 'deflate') q[name] = Math.max(q[name] ?? 0, weight);
    else if (name === '*') any = weight;
  }
  let best: Encoding | undefined;
  let bestQ = 0;
  for (const name of ['gzip', 'deflate'] as const) {
    const weight = q[name] ?? any ?? 0;
    if (weight > bestQ) {
      best = name;
      bestQ = weight;
    }
  }
  return best;
}

function addVary(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined) {
    reply.header('vary', 'accept-encoding');
    return;
  }
  const values = (Array.isArray(vary) ? vary : [String(vary)]).map(String);
  if (!values.some((v) => v.toLowerCase().includes('accept-encoding') || v.trim() === '*')) {
    reply.header('vary', [...values, 'accept-encoding'].join(', '));
  }
}

/** Adds the onSend hook to `scope` (an encapsulated scope: only its routes are compressed). */
export function registerCompression(scope: FastifyInstance, options: CompressOptions): void {
  const zlibOptions: ZlibOptions = { level: options.level };
  scope.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    const encoded = reply.getHeader('content-encoding');
    if (encoded !== undefined && encoded !== 'identity') return payload;
    if (request.headers['x-no-compression'] !== undefined || reply.statusCode === 206 || reply.hasHeader('content-range')) return payload;
    const type = reply.getHeader('content-type');
    if (!COMPRESSIBLE.test(typeof type === 'string' ? type : 'application/json')) return payload;
    const encoding = negotiateEncoding(request.headers['accept-encoding']);
    if (encoding === undefined) return payload;
    const size = Buffer.byteLength(payload);
    if (size < options.threshold) return payload;
    const input = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const body =
      size <= SYNC_MAX_BYTES
        ? (encoding === 'gzip' ? gzipSync : deflateSync)(input, zlibOptions)
        : await (encoding === 'gzip' ? gzipAsync : deflateAsync)(input, zlibOptions);
    addVary(reply);
    reply.header('content-encoding', encoding);
    reply.header('content-length', body.length);
    return body;
  });
}
