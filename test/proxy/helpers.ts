// Real servers for the proxy suites: an upstream that records what it received and misbehaves on
// demand, a gateway (Fastify + proxyRoutes) in front of it, and a tiny Map-backed Cache that
// implements src/cache/types.ts for the caching tests.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Cache, CacheValue, SetOptions } from '../../src/cache/types.js';
import { createAdmission, type AdmissionOptions, type HeadroomAdmission } from '../../src/admission/index.js';
import { createProxy, type Proxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import { proxyAdminRoutes, proxyRoutes } from '../../src/server/routes/proxy.js';
import { installErrorHandlers } from '../../src/server/error-handler.js';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  bodyBytes: number;
  aborted: boolean;
  /** Resolves when the request is finished (complete or aborted). */
  settled: Promise<void>;
}

export interface Upstream {
  url: string;
  port: number;
  received: Received[];
  server: http.Server;
  close(): Promise<void>;
}

/** Starts an upstream; the handler decides how to misbehave. Request bodies are counted, not kept. */
export async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse, rec: Received) => void): Promise<Upstream> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let done!: () => void;
    const rec: Received = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
      aborted: false,
      settled: new Promise((r) => (done = r)),
    };
    received.push(rec);
    req.on('data', (c: Buffer) => (rec.bodyBytes += c.length));
    res.on('close', () => {
      if (!res.writableFinished) rec.aborted = true;
      done();
    });
    handler(req, res, rec);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Gateway {
  url: string;
  app: FastifyInstance;
  proxy: Proxy;
  admission: HeadroomAdmission;
  close(): Promise<void>;
}

export async function startGateway(
  proxyOptions: Omit<ProxyOptions, 'admission'>,
  admissionOptions: Partial<AdmissionOptions> = {},
  routeOptions: { raw?: boolean } = {},
  appOptions: { trustProxy?: boolean } = {},
): Promise<Gateway> {
  const admission = createAdmission({
    maxConcurrent: 20,
    queueSize: 100,
    queueTimeout: 5_000,
    memoryThresholdPercent: 99,
    ...admissionOptions,
  });
  const proxy = createProxy({ ...proxyOptions, admission });
  const app = Fastify(appOptions);
  installErrorHandlers(app);
  await app.register(proxyRoutes, { proxy, ...routeOptions });
  await app.register(proxyAdminRoutes, { proxy, prefix: '/admin' });
  app.get('/other', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    proxy,
    admission,
    close: () =>
      (closed ??= (async () => {
        await admission.close();
        await proxy.close();
        app.server.closeAllConnections();
        await app.close();
      })()),
  };
}

/** A plain http request that resolves with status, headers and body (as a Buffer). */
export function request(
  url: string,
  options: http.RequestOptions & { body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Map-backed Cache implementing the shared interface (TTL only; enough for the proxy tests). */
export function mapCache(): Cache & { map: Map<string, { value: CacheValue; expires: number }> } {
  const map = new Map<string, { value: CacheValue; expires: number }>();
  const get = async <T>(key: string): Promise<T | undefined> => {
    const e = map.get(key);
    if (!e || e.expires <= Date.now()) return undefined;
    return e.value as T;
  };
  const set = async (key: string, value: CacheValue, o?: SetOptions): Promise<void> => {
    map.set(key, { value, expires: Date.now() + (o?.ttl ?? 60_000) });
  };
  const stats = { hits: 0, misses: 0, bytes: 0, entries: 0, errors: 0 };
  const close = async (): Promise<void> => map.clear();
  return {
    map,
    get,
    set,
    delete: async (k) => void map.delete(k),
    has: async (k) => (await get(k)) !== undefined,
    getOrSet: async <T>(k: string, loader: () => Promise<T> | T, o?: SetOptions): Promise<T> => {
      const hit = await get<T>(k);
      if (hit !== undefined) return hit;
      const v = await loader();
      await set(k, v, o);
      return v;
    },
    invalidateByTag: async () => map.clear(),
    invalidateAll: async () => map.clear(),
    getStream: async () => undefined,
    setStream: async () => {},
    stats: () => ({
      l1: { ...stats, maxBytes: 0, effectiveMaxBytes: 0, maxEntries: 0, evictions: {} },
      l2: null,
      hitRatio: 0,
      singleFlight: { deduplicated: 0, inFlight: 0 },
    }),
    topKeys: () => [],
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface Download {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  /** True only when the response body ended properly. */
  complete: boolean;
}

/** GETs a URL counting body bytes; resolves on a proper end or when the connection dies. */
export function download(
  url: string,
  options: http.RequestOptions & { abortAfterBytes?: number; onData?: () => void } = {},
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const out: Download = { status: res.statusCode ?? 0, headers: res.headers, bytes: 0, complete: false };
      res.on('data', (c: Buffer) => {
        out.bytes += c.length;
        options.onData?.();
        if (options.abortAfterBytes !== undefined && out.bytes >= options.abortAfterBytes) req.destroy();
      });
      res.on('end', () => (out.complete = true));
      res.on('error', () => {});
      res.on('close', () => resolve(out));
    });
    req.on('error', (err) => (req.destroyed && options.abortAfterBytes !== undefined ? undefined : reject(err)));
    req.end();
  });
}

/** Resolves with `p` or rejects after ms (so a broken rule fails instead of hanging). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms)))]).finally(
    () => clearTimeout(t),
  );
}

/** An upstream that holds every request until release(); arrived() resolves when one is waiting. */
export async function heldUpstream(body = 'late'): Promise<Upstream & { arrived: Promise<void>; release(): void }> {
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const up = await startUpstream((_req, res) => {
    arrive();
    void gate.then(() => res.end(body));
  });
  return Object.assign(up, { arrived, release });
}
