// proxy.fetch(request): the proxy over Web streams, for frameworks whose handlers take a Web
// `Request` and return a Web `Response` (Next.js App Router route handlers). The rules are
// handle()'s, from the same parts: path mapper, header rules (webRequest), admission, response
// cache, counters, fault classification. What differs is the transport:
// - the request body is undici's to pull from Readable.fromWeb(request.body);
// - the response body is a ReadableStream fed by the dispatch handler itself (not
//   Readable.toWeb(pool.request().body), whose web side buffers without a byte bound): a chunk is
//   enqueued, and when the stream's byte queue is full (WEB_HIGH_WATER_MARK) the upstream is paused
//   until the consumer pulls again, so at most the high-water mark plus one socket read is held;
// - the client going away is request.signal aborting or the consumer cancelling the stream; both
//   abort the upstream, and the slot is released once (finish()).
// The promise resolves with the first body byte (or the end), as handle() writes the head with
// the first byte: a failure before it is still an error answer, never a truncated success.
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { HeadroomError } from '../errors.js';
import type { HeadroomAdmission, Release } from '../admission/index.js';
import { invalidatesStored, responseCacheKey, SKIP_OUTCOME, type RequestHeaders, type Tee } from './cache-tee.js';
import type { ResponseFacts } from './cache-policy.js';
import { beginTee, endsByClose, type ExchangeContext } from './exchange.js';
import { CACHE_STATUS_HEADERS, type CacheOutcome } from '../cache/cache-status.js';
import { ProxyAbort, faultError, faultKind } from './faults.js';
import { newHeaderInfo, type RequestHeaderInfo } from './headers.js';
import type { PathMapper } from './path.js';
import { ClientExchange } from './client-exchange.js';
import type { UpstreamPool } from './lazy-pool.js';
import { currentLedger, type RequestLedger } from '../log/accounting.js';

/** Bytes the response stream may queue for a slow reader before the upstream is paused. */
export const WEB_HIGH_WATER_MARK = 64 * 1024;

/** What a Web Request does not carry and the framework may know. */
export interface FetchInfo {
  /**
   * The client's address, appended to X-Forwarded-For (without it the header is passed on as
   * received) and held to the admission's maxPerClient (without it that limit does not apply).
   */
  remoteAddress?: string;
  /**
   * The protocol of the connection the request came on, when the request URL's may not be it
   * (Next.js builds the URL's from the client's X-Forwarded-Proto). Default: the URL's.
   */
  protocol?: 'http' | 'https';
  /**
   * Ask the upstream for an unencoded body (Accept-Encoding: identity instead of the client's): for
   * a server that drops Content-Encoding from a handler's Response and compresses on its own
   * (Next.js), where a gzip body passed through would reach the client without its encoding.
   */
  identityEncoding?: boolean;
}

export interface WebProxyParts {
  ctx: ExchangeContext;
  pool: UpstreamPool;
  mapper: PathMapper;
  admission: HeadroomAdmission;
  enabled: boolean;
  draining: () => boolean;
  /** True once abortInFlight() ran: a request leaving the admission queue gets 503 HEADROOM_DRAINING, not the destroyed pool. */
  aborted: () => boolean;
  errors: { disabled: HeadroomError; path: HeadroomError; outside: HeadroomError; draining: HeadroomError };
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** The JSON error answer, as sendError() writes it for handle(). */
export function errorResponse(err: HeadroomError, unreadBody: boolean): Response {
  const headers = new Headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  for (const k in err.headers) headers.set(k, err.headers[k]!);
  if (unreadBody) headers.set('connection', 'close');
  return new Response(JSON.stringify(err.toJSON()), { status: err.statusCode, headers });
}

function headersOf(list: string[]): Headers {
  const h = new Headers();
  for (let i = 0; i < list.length; i += 2) h.append(list[i]!, list[i + 1]!);
  return h;
}

interface WebExchangeOptions {
  request: Request;
  upload: Readable | null;
  release: Release;
  /** The request target sent upstream (base path and rest). */
  upstreamPath: string;
  cacheKey: string | undefined;
  /** An unsafe request's URL key: what is stored under it is dropped once a non-error response arrives. */
  invalidates?: string;
  reqHeaders: () => RequestHeaders;
  hasAuthorization: boolean;
  cacheControl: string | undefined;
  /** Sent as Cache-Status/X-Cache; undefined without a cache. */
  cacheOutcome: CacheOutcome | undefined;
  resolve: (r: Response) => void;
  /** The request's ledger (request accounting), if it has one. */
  ledger: RequestLedger | undefined;
}

class WebExchange extends ClientExchange {
  private readonly o: WebExchangeOptions;
  private readonly started = performance.now();
  private readonly onAbort = (): void => this.abort(new ProxyAbort('clientAbort'));
  private stream: ReadableStream<Uint8Array> | undefined;
  private sink: ReadableStreamDefaultController<Uint8Array> | undefined;
  private resolved = false;
  private status = 0;
  private statusText = '';
  private headers: string[] = [];
  /** Where the headers we add begin; the cache stores those before it. */
  private ownHeaders = 0;
  private tee: Tee | undefined;
  private ttl = 0;
  private facts: ResponseFacts | undefined;
  private uploadedBytes = 0;
  private pulls = 0;

  constructor(
    private readonly ctx: ExchangeContext,
    o: WebExchangeOptions,
  ) {
    super(o.ledger);
    this.o = o;
    ctx.counters.active++;
    ctx.tracker.add(this);
    ctx.live.add(this);
    o.request.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** A stalled upload, or a reader that stopped pulling a full download. */
  protected clientProgress(): number | undefined {
    const up = this.o.upload;
    if (up && !up.readableEnded && up.readableFlowing === true) return this.uploadedBytes;
    if (this.resolved && this.sink && (this.sink.desiredSize ?? 1) <= 0) return -2 - this.pulls;
    return undefined;
  }

  protected uploaded(bytes: number): void {
    this.uploadedBytes += bytes;
    this.ctx.counters.bytesIn += bytes;
  }

  /** The target the client sent (the route's URL: a Next.js route folder is the prefix itself). */
  clientUrl(): string {
    const u = new URL(this.o.request.url);
    return u.pathname + u.search;
  }

  protected head(status: number, upstreamHeaders: IncomingHttpHeaders, statusText: string): boolean {
    this.ctx.counters.latency(performance.now() - this.started);
    if (status > 599) {
      this.abort(new Error(`upstream status ${status} cannot be relayed`));
      return false;
    }
    const headers = this.ctx.rules.response(upstreamHeaders);
    this.ctx.location?.rewrite(headers, this, this.o.upstreamPath);
    if (this.o.invalidates !== undefined && status < 400) this.ctx.responseCache?.invalidate(this.o.invalidates);
    if (this.o.cacheKey !== undefined && this.ctx.responseCache && !endsByClose(status, upstreamHeaders)) {
      const t = beginTee(this.ctx.responseCache, this.o.cacheKey, status, headers, this.o.hasAuthorization, this.o.cacheControl);
      if (t) ({ tee: this.tee, ttl: this.ttl, facts: this.facts } = t);
    }
    this.ownHeaders = headers.length;
    if (this.o.cacheOutcome !== undefined) headers.push(...CACHE_STATUS_HEADERS[this.o.cacheOutcome]);
    this.status = status;
    this.statusText = statusText;
    this.headers = headers;
    if (this.o.request.method === 'HEAD' || NULL_BODY_STATUS.has(status)) return true;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.sink = c;
        },
        pull: () => {
          this.pulls++;
          if (this.ledger !== undefined) this.account();
          this.resumeUpstream();
        },
        cancel: () => this.abort(new ProxyAbort('clientAbort')),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: WEB_HIGH_WATER_MARK }),
    );
    return true;
  }

  private respond(body: ReadableStream<Uint8Array> | null): void {
    this.resolved = true;
    let r: Response;
    try {
      r = new Response(body, { status: this.status, statusText: this.statusText, headers: headersOf(this.headers) });
    } catch {
      // An upstream reason phrase or header value the Fetch API refuses: keep the status and headers.
      r = new Response(body, { status: this.status, headers: headersOf(this.headers) });
    }
    this.o.resolve(r);
  }

  protected body(chunk: Buffer): boolean {
    const c = this.sink;
    if (!c) return true; // HEAD or a null-body status: nothing to relay
    const n = chunk.length;
    this.bytes += n;
    this.ctx.counters.bytesOut += n;
    this.ctx.gcAssist?.relayed(n);
    if (this.tee) this.tee.push(chunk);
    c.enqueue(chunk);
    if (this.ledger !== undefined) this.account();
    if (!this.resolved) this.respond(this.stream!);
    return (c.desiredSize ?? 0) > 0;
  }

  /**
   * What this exchange holds for its request: the tee's copy, and the bytes enqueued in the
   * response stream that the consumer has not read (the same Buffers, so the larger of the two).
   * Sampled at every chunk and pull.
   */
  private account(): void {
    const tee = this.tee !== undefined && !this.tee.abandoned ? this.tee.size : 0;
    const queued = WEB_HIGH_WATER_MARK - (this.sink?.desiredSize ?? WEB_HIGH_WATER_MARK);
    this.holding(tee > queued ? tee : queued);
  }

  protected end(): void {
    if (this.tee && this.facts) {
      const upstream = this.headers.slice(0, this.ownHeaders);
      this.ctx.responseCache!.store(this.o.cacheKey!, this.tee, this.ttl, this.status, upstream, this.facts, this.o.reqHeaders());
    }
    this.finish();
    if (!this.resolved) this.respond(this.stream ?? null);
    try {
      this.sink?.close();
    } catch {
      // cancelled by the consumer meanwhile
    }
  }

  protected fail(err: Error): void {
    const kind = faultKind(err);
    this.ctx.counters.errors[kind]++;
    this.finish();
    if (this.resolved) {
      // Mid-body: the consumer sees an error, never a body that looks complete.
      try {
        this.sink!.error(err);
      } catch {
        // already cancelled
      }
    } else {
      const answer =
        kind === 'clientAbort'
          ? new HeadroomError('HEADROOM_CLIENT_CLOSED', 'the client went away', { cause: err })
          : faultError(kind, err, this.ctx.streamTimeout, this.ctx.clientTimeout);
      const up = this.o.upload;
      this.resolved = true;
      this.o.resolve(errorResponse(answer, up !== null && !up.readableEnded));
    }
    if (kind !== 'shed' && kind !== 'clientAbort' && kind !== 'draining')
      this.ctx.logger?.warn({ kind, code: (err as { code?: string }).code, method: this.o.request.method }, 'upstream request failed');
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.ctx.counters.active--;
    this.ctx.counters.completed++;
    this.o.release();
    this.ctx.tracker.untrack(this);
    this.ctx.live.delete(this);
    this.o.request.signal.removeEventListener('abort', this.onAbort);
    this.releaseHeld();
    // Stored or not, its copy leaves the budget all copies share.
    this.tee?.release();
  }
}

/** Builds proxy.fetch from the proxy's parts. The returned function never rejects. */
export function createFetch(parts: WebProxyParts): (request: Request, info?: FetchInfo) => Promise<Response> {
  const { ctx, pool, mapper, admission, errors } = parts;
  const { counters, responseCache, streamTimeout } = ctx;
  const clientClosed = new HeadroomError('HEADROOM_CLIENT_CLOSED', 'the client went away');
  const bodyTaken = new HeadroomError(
    'HEADROOM_BODY_CONSUMED',
    'the request body was already read (or a reader holds it), so it cannot be forwarded: pass proxy.fetch the unread Request, or a request.clone()',
  );

  function dispatch(
    request: Request,
    release: Release,
    path: string,
    info: RequestHeaderInfo,
    cacheKey: string | undefined,
    reqHeaders: () => RequestHeaders,
    cacheOutcome: CacheOutcome | undefined,
    ledger: RequestLedger | undefined,
  ): Promise<Response> {
    if (parts.aborted()) {
      release();
      return Promise.resolve(errorResponse(errors.draining, true));
    }
    return new Promise<Response>((resolve) => {
      let upload: Readable | null;
      try {
        upload = request.body ? Readable.fromWeb(request.body as NodeReadableStream) : null;
      } catch {
        // Taken by a reader between the check in fetch() and now: the slot must not stay held.
        release();
        resolve(errorResponse(bodyTaken, true));
        return;
      }
      const ex = new WebExchange(ctx, {
        request,
        upload,
        release,
        upstreamPath: path,
        cacheKey: request.method === 'GET' ? cacheKey : undefined,
        invalidates: cacheKey !== undefined && invalidatesStored(request.method) ? cacheKey : undefined,
        reqHeaders,
        hasAuthorization: info.hasAuthorization,
        cacheControl: info.cacheControl,
        cacheOutcome,
        resolve,
        ledger,
      });
      if (request.signal.aborted) ex.abort(new ProxyAbort('clientAbort'));
      ex.send(pool, {
        path,
        method: request.method as Dispatcher.HttpMethod,
        headers: info.headers,
        body: upload,
        headersTimeout: streamTimeout,
        bodyTimeout: streamTimeout,
      });
    });
  }

  function admit(
    request: Request,
    path: string,
    info: RequestHeaderInfo,
    cacheKey: string | undefined,
    reqHeaders: () => RequestHeaders,
    cacheOutcome: CacheOutcome | undefined,
    client: string | undefined,
  ): Promise<Response> {
    const hasBody = request.body !== null;
    // Taken here, in the request's context: a queued request is dispatched from another's release.
    const ledger = currentLedger();
    const r = admission.tryAcquire(client);
    if (typeof r === 'function') return dispatch(request, r, path, info, cacheKey, reqHeaders, cacheOutcome, ledger);
    if (r) return Promise.resolve(errorResponse(r, hasBody));
    const signal = request.signal;
    if (signal.aborted) {
      counters.errors.clientAbort++;
      return Promise.resolve(errorResponse(clientClosed, hasBody));
    }
    // Queued; leaves the queue when the client goes away, so it never reaches dispatch().
    return new Promise<Response>((resolve) => {
      const onAbort = (): void => {
        cancel();
        counters.errors.clientAbort++;
        resolve(errorResponse(clientClosed, hasBody));
      };
      const cancel = admission.enqueue(
        (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(dispatch(request, release, path, info, cacheKey, reqHeaders, cacheOutcome, ledger));
        },
        (err) => {
          signal.removeEventListener('abort', onAbort);
          resolve(errorResponse(err, hasBody));
        },
        client,
      );
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  return async function fetch(request: Request, fetchInfo?: FetchInfo): Promise<Response> {
    counters.requests++;
    const hasBody = request.body !== null;
    if (!parts.enabled) {
      counters.disabled++;
      return errorResponse(errors.disabled, hasBody);
    }
    if (parts.draining()) return errorResponse(errors.draining, true);
    // Readable.fromWeb would throw on it after the admission slot was taken.
    if (request.bodyUsed || request.body?.locked) return errorResponse(bodyTaken, true);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      counters.errors.badRequest++;
      return errorResponse(new HeadroomError('HEADROOM_BAD_REQUEST', 'the request URL is not absolute'), hasBody);
    }
    const target = url.pathname + url.search;
    const path = mapper.map(target);
    if (path === null) {
      counters.errors.pathRejected++;
      return errorResponse(mapper.under(target) ? errors.path : errors.outside, hasBody);
    }
    const info = newHeaderInfo();
    ctx.rules.webRequest(request.headers, fetchInfo?.remoteAddress, fetchInfo?.protocol ?? url.protocol.slice(0, -1), info);
    if (fetchInfo?.identityEncoding) onlyIdentity(info.headers);
    if (info.hostProblem) {
      counters.errors.badRequest++;
      return errorResponse(new HeadroomError('HEADROOM_BAD_REQUEST', `${info.hostProblem} (RFC 9112 §3.2)`), hasBody);
    }
    let bag: RequestHeaders | undefined;
    const reqHeaders = (): RequestHeaders => (bag ??= { headers: Object.fromEntries(request.headers) });
    const method = request.method;
    // Held to the admission's maxPerClient only when the framework told the client's address.
    const client = fetchInfo?.remoteAddress;
    if (!responseCache) return admit(request, path, info, undefined, reqHeaders, undefined, client);
    const key = responseCacheKey(info.origin, path);
    // Other methods are never answered from the cache; the key goes on for an unsafe one to invalidate.
    if (method !== 'GET' && method !== 'HEAD') return admit(request, path, info, key, reqHeaders, 'method', client);
    // A method override: neither looked up nor stored (its answer would be served to the plain GET).
    if (info.overridesMethod) return admit(request, path, info, undefined, reqHeaders, 'request', client);
    const skipped = responseCache.skip(key, info.cacheControl);
    if (skipped !== undefined) return admit(request, path, info, key, reqHeaders, SKIP_OUTCOME[skipped], client);
    let hit;
    try {
      hit = await responseCache.lookup(key, reqHeaders(), info.cacheControl);
    } catch {
      hit = undefined;
    }
    if (request.signal.aborted) {
      counters.errors.clientAbort++; // gone during the lookup: no upstream request for it
      return errorResponse(clientClosed, hasBody);
    }
    if (!hit) return admit(request, path, info, key, reqHeaders, 'miss', client);
    const a = responseCache.answer(hit, method, info.ifNoneMatch);
    return new Response(a.body ?? null, { status: a.status, headers: headersOf(a.headers) });
  };
}

/** Replaces the Accept-Encoding of a flat [name, value, …] header list with identity. */
function onlyIdentity(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i]!.toLowerCase() === 'accept-encoding') headers.splice(i, 2);
  headers.push('accept-encoding', 'identity');
}
