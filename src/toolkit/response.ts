// Framework-neutral answers. Every adapter turns a PlainResponse into its framework's reply, so
// status codes, headers and bodies are decided once, here and in the parts.
import type { ServerResponse } from 'node:http';
import { HeadroomError, isHeadroomError } from '../errors.js';

export interface PlainResponse {
  status: number;
  headers: Record<string, string>;
  /** Already serialised (JSON or Prometheus text). */
  body: string;
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
  res.setHeader('content-length', Buffer.byteLength(r.body));
  res.end(method === 'HEAD' ? undefined : r.body);
}

/** A PlainResponse as a Web Response (Next.js route handlers). */
export function toWebResponse(r: PlainResponse, method?: string): Response {
  return new Response(method === 'HEAD' ? null : r.body, { status: r.status, headers: r.headers });
}
