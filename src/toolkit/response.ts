// Framework-neutral answers. Every adapter turns a PlainResponse into its framework's reply, so
// status codes, headers and bodies are decided once, here and in the parts.
import type { ServerResponse } from 'node:http';
import { HeadroomError, isHeadroomError } from '../errors.js';
import type { LiveBody } from '../observe/dashboard/types.js';

export interface PlainResponse {
  status: number;
  headers: Record<string, string>;
  /** Already serialised (JSON or Prometheus text). */
  body: string;
  /** Sent instead of `body` when set (the dashboard's files, gzipped). */
  bytes?: Buffer;
  /** Written instead of `body`, for as long as the client stays (the dashboard's live feed). */
  live?: LiveBody;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): PlainResponse {
  return { status, headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store', ...headers }, body: JSON.stringify(value) };
}

/**
 * A HeadroomError as its registry status and JSON body; anything else is a 500 that hides its
 * message. A HeadroomError from another copy of headroom counts too (not instanceof): a Next.js
 * app whose Headroom was made by instrumentation or a custom server gets errors from that copy in
 * route bundles that carry their own.
 */
export function errorResponse(err: unknown): PlainResponse {
  const e = isHeadroomError(err) ? err : new HeadroomError('HEADROOM_INTERNAL', 'internal error', { cause: err });
  return jsonResponse(e.statusCode, e.toJSON(), e.headers);
}

/** Writes a PlainResponse on a raw Node response (Express, Connect, NestJS on either platform). */
export function writePlain(res: ServerResponse, r: PlainResponse, method?: string): void {
  if (res.headersSent) return void res.end();
  res.statusCode = r.status;
  for (const k in r.headers) res.setHeader(k, r.headers[k]!);
  if (r.live) {
    if (method === 'HEAD') return void (r.live.cancel(), res.end());
    res.flushHeaders();
    return r.live.pipe(res);
  }
  const payload = r.bytes ?? r.body;
  res.setHeader('content-length', Buffer.byteLength(payload));
  res.end(method === 'HEAD' ? undefined : payload);
}

/** A PlainResponse as a Web Response (Next.js route handlers). */
export function toWebResponse(r: PlainResponse, method?: string): Response {
  if (r.live && method === 'HEAD') r.live.cancel();
  const body = method === 'HEAD' || r.status === 304 ? null : (r.live?.web() ?? r.bytes ?? r.body);
  return new Response(body, { status: r.status, headers: r.headers });
}
