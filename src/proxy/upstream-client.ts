// createUpstreamClient: a bounded, cached API client for apps that call an API directly. Bodies
// are read with a byte limit enforced while reading (HEADROOM_BODY_TOO_LARGE), every request has
// a timeout, GET JSON responses go through the cache with in-flight de-duplication, and cache
// writes are skipped while the monitor reports pressure.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
// Pool and request() from their own modules, not undici's index, which loads all of undici (fetch,
// WebSocket, mocks; 86 more modules, ~2.2 MiB of heap) for an app that imports headroom-memory/proxy.
import Pool from 'undici/lib/dispatcher/pool.js';
// Dispatcher.prototype.request is attached by undici's index only, so it is called from its module.
import undiciRequest from 'undici/lib/api/api-request.js';
import { HeadroomError } from '../errors.js';
import type { Cache } from '../cache/types.js';
import type { PressureSource } from '../monitor/types.js';
import { requireOption, resolveOptions } from '../options/spec.js';
import { faultError, faultKind } from './faults.js';
import { upstreamClientSpecs } from './options.js';

/** Defaults and bounds: upstreamClientSpecs in options.ts. Bad values throw HEADROOM_CONFIG_INVALID naming the option. */
export interface UpstreamClientOptions {
  /** Absolute http(s) URL; request paths are appended to its path. Required. */
  baseUrl: string | URL;
  /** Sent as Authorization: Bearer … */
  token?: string;
  /** Per-request timeout (headers and body idle), ms. */
  timeout?: number;
  /** Largest body json() reads, bytes. */
  maxBodyBytes?: number;
  cache?: Cache;
  /** TTL of cached GET responses, ms. */
  cacheTtl?: number;
  monitor?: PressureSource;
  /** Keep-alive connections. */
  connections?: number;
  headers?: Record<string, string>;
}

export interface RequestOptions {
  method?: Dispatcher.HttpMethod;
  query?: Record<string, string | number | boolean>;
  headers?: Record<string, string>;
  /** JSON-serialised unless a string/Buffer/Readable. */
  body?: unknown;
  /** Overrides the client timeout. */
  timeout?: number;
  /** Overrides maxBodyBytes for json(). */
  maxBodyBytes?: number;
  /** false skips the cache for this GET; a number sets its TTL (ms). */
  cache?: boolean | number;
  tags?: string[];
  signal?: AbortSignal;
}

export interface StreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface UpstreamClient {
  json<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
  stream(path: string, options?: RequestOptions): Promise<StreamResponse>;
  stats(): { requests: number; cacheHits: number; deduplicated: number; cacheWritesSkipped: number; tooLarge: number; errors: number };
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Reads a body into one Buffer, aborting as soon as it passes `limit` bytes. */
export async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.on('error', () => {}); // undici reports its own abort; the limit error is the answer
      body.destroy();
      throw new HeadroomError('HEADROOM_BODY_TOO_LARGE', `upstream body exceeded ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const opts = resolveOptions('createUpstreamClient', upstreamClientSpecs, options);
  const base = new URL(requireOption('createUpstreamClient', 'baseUrl', upstreamClientSpecs.baseUrl, opts.baseUrl, options));
  const basePath = base.pathname.replace(/\/+$/, '');
  const { timeout, maxBodyBytes } = opts;
  const pool = new Pool(base.origin, { connections: opts.connections });
  const inflight = new Map<string, Promise<unknown>>();
  const counts = { requests: 0, cacheHits: 0, deduplicated: 0, cacheWritesSkipped: 0, tooLarge: 0, errors: 0 };
  let closing: Promise<void> | undefined;

  const pathOf = (path: string, query: RequestOptions['query']): string => {
    let p = basePath + (path.startsWith('/') ? path : `/${path}`);
    if (query) p += `?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    return p;
  };

  async function request(path: string, o: RequestOptions): Promise<Dispatcher.ResponseData> {
    if (closing) throw new HeadroomError('HEADROOM_DRAINING', 'upstream client is closed');
    counts.requests++;
    const headers: Record<string, string> = { ...opts.headers, ...o.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | Buffer | Readable | undefined;
    if (o.body !== undefined) {
      if (typeof o.body === 'string' || Buffer.isBuffer(o.body) || typeof (o.body as Readable).pipe === 'function')
        body = o.body as string | Buffer | Readable;
      else {
        body = JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const t = o.timeout ?? timeout;
    try {
      return await undiciRequest.call(pool, {
        path: pathOf(path, o.query),
        method: o.method ?? 'GET',
        headers,
        body,
        headersTimeout: t,
        bodyTimeout: t,
        signal: o.signal,
      });
    } catch (err) {
      counts.errors++;
      if (err instanceof HeadroomError || (err as Error).name === 'AbortError') throw err;
      throw faultError(faultKind(err), err, t);
    }
  }

  async function fetchJson<T>(path: string, o: RequestOptions): Promise<T> {
    const res = await request(path, o);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await res.body.dump().catch(() => {});
      counts.errors++;
      throw new HeadroomError('HEADROOM_UPSTREAM_ERROR', `upstream answered ${res.statusCode} for ${o.method ?? 'GET'} ${path}`);
    }
    let buf: Buffer;
    try {
      buf = await readLimited(res.body, o.maxBodyBytes ?? maxBodyBytes);
    } catch (err) {
      if (err instanceof HeadroomError) counts.tooLarge++;
      else counts.errors++;
      throw err instanceof HeadroomError ? err : faultError(faultKind(err), err, o.timeout ?? timeout);
    }
    if (res.statusCode === 204 || buf.length === 0) return undefined as T;
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (err) {
      throw new HeadroomError('HEADROOM_UPSTREAM_ERROR', `upstream sent invalid JSON for ${path}`, { cause: err });
    }
  }

  async function json<T>(path: string, o: RequestOptions = {}): Promise<T> {
    const method = o.method ?? 'GET';
    if (method !== 'GET' || o.body !== undefined) return fetchJson<T>(path, o);
    const key = `upstream:${pathOf(path, o.query)}`;
    const pending = inflight.get(key);
    if (pending) {
      counts.deduplicated++;
      return pending as Promise<T>;
    }
    const run = (async (): Promise<T> => {
      const cache = o.cache === false ? undefined : opts.cache;
      if (cache) {
        const hit = await cache.get<T>(key).catch(() => undefined);
        if (hit !== undefined) {
          counts.cacheHits++;
          return hit;
        }
      }
      const value = await fetchJson<T>(path, o);
      if (cache && value !== undefined) {
        if (opts.monitor && opts.monitor.status() !== 'healthy') counts.cacheWritesSkipped++;
        else await cache.set(key, value, { ttl: typeof o.cache === 'number' ? o.cache : opts.cacheTtl, tags: o.tags }).catch(() => {});
      }
      return value;
    })();
    inflight.set(key, run);
    try {
      return await run;
    } finally {
      inflight.delete(key);
    }
  }

  async function stream(path: string, o: RequestOptions = {}): Promise<StreamResponse> {
    const res = await request(path, o);
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  // Every call gets the one close in progress (it waits for in-flight requests).
  const close = (): Promise<void> => (closing ??= pool.close());

  return { json, stream, stats: () => ({ ...counts }), close, [Symbol.asyncDispose]: close };
}
