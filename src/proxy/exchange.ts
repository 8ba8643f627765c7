// One proxied request as an undici dispatch handler (through upstream-handler.ts): relays the
// upstream response to the raw Node response with backpressure both ways (a full client socket
// pauses the upstream parser; the request body is undici's to pull from the IncomingMessage), tees
// cacheable bodies, and turns every failure into either an error answer (nothing sent yet) or a
// destroyed client connection (mid-body, so a truncated body never looks complete). The response
// head is written with the first body byte, so an upstream that breaks its framing before that
// still gets a 502. A client that makes no progress for CLIENT_TIMEOUT (a stalled upload) or
// CLIENT_READ_TIMEOUT (a stopped reader) loses the exchange: the proxy's sweep (proxy.ts) asks
// checkClient() a few times per timeout, and the hot path only bumps two counters (no timer per
// request: a socket timeout armed per request cost ~4 % of throughput). A class, so the hot path
// allocates one object per request and no closures (an upload adds one listener: upstream-handler.ts).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Release, Sheddable } from '../admission/index.js';
import type { ResponseCache, Tee } from './cache-tee.js';
import type { GcAssist } from './gc-assist.js';
import { deltaSeconds, type ResponseFacts } from './cache-policy.js';
import { ProxyAbort, faultError, faultKind } from './faults.js';
import type { HeaderRules } from './headers.js';
import { sendError } from './respond.js';
import type { ProxyCounters } from './stats.js';
import { ClientExchange, type ClientLooks } from './client-exchange.js';
import { CACHE_STATUS_HEADERS, type CacheOutcome } from '../cache/cache-status.js';
import { originalUrl } from './client.js';
import type { LocationRewriter } from './location.js';
import type { ProxyNote } from './note.js';
import type { RequestLedger } from '../log/accounting.js';

/** What an exchange needs from the proxy that created it. */
export interface ExchangeContext {
  counters: ProxyCounters;
  rules: HeaderRules;
  responseCache: ResponseCache | undefined;
  streamTimeout: number;
  /** CLIENT_TIMEOUT, ms (named in the 408's message). */
  clientTimeout: number;
  /** Exchanges in flight (Node and Web), for the client-progress sweep and abortInFlight(). */
  live: Set<{ checkClient(looks: ClientLooks, minUploadBytes?: number, slow?: () => Error): void; abort(err: Error): void }>;
  logger: Logger | undefined;
  /** Shedding registry (the admission controller). */
  tracker: { add(s: Sheddable): void; untrack(s: Sheddable): void };
  gcAssist: GcAssist | undefined;
  /** Rewrites Location headers into the client's view (PROXY_REWRITE_LOCATION); undefined when off. */
  location: LocationRewriter | undefined;
}

/** One request's side of an exchange. */
export interface ExchangeOptions {
  req: IncomingMessage;
  res: ServerResponse;
  /** The admission slot, given back when the exchange ends. */
  release: Release;
  /** The request target sent upstream (base path and rest). */
  upstreamPath: string;
  /** Set when the response may be stored in the cache under this key. */
  cacheKey: string | undefined;
  /** An unsafe request's URL key: what is stored under it is dropped once a non-error response arrives. */
  invalidates?: string;
  /** The request carried Authorization (decides what a shared cache may store). */
  hasAuthorization: boolean;
  /** The request's Cache-Control. */
  cacheControl: string | undefined;
  /** How the response cache took part (sent as Cache-Status/X-Cache); undefined without a cache. */
  cacheOutcome?: CacheOutcome;
  /** The caller's note (proxy.handle's third argument), filled in as the exchange runs. */
  note?: ProxyNote;
  /** The request's ledger (request accounting), if it has one. */
  ledger?: RequestLedger;
}

export const kExchange = Symbol('headroom.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };

// Shared listeners: `this` is the response; no per-request closure. The exchange is done before
// the answer is ended, so a close while it is not done is the client going away.
function onResponseClose(this: TaggedResponse): void {
  const ex = this[kExchange];
  if (ex && !ex.done) ex.abort(new ProxyAbort('clientAbort'));
}

function onResponseDrain(this: TaggedResponse): void {
  this[kExchange]?.drained();
}

export class Exchange extends ClientExchange {
  private readonly req: IncomingMessage;
  private readonly res: TaggedResponse;
  private readonly release: Release;
  private readonly upstreamPath: string;
  private readonly cacheKey: string | undefined;
  private readonly invalidates: string | undefined;
  private readonly hasAuthorization: boolean;
  private readonly cacheControl: string | undefined;
  private readonly cacheOutcome: CacheOutcome | undefined;
  private readonly note: ProxyNote | undefined;
  /** Where the headers we add (Cache-Status, X-Request-Id) begin; the cache stores those before it. */
  private ownHeaders = 0;
  private readonly started = performance.now();
  private tee: Tee | undefined;
  private ttl = 0;
  private facts: ResponseFacts | undefined;
  private status = 0;
  private headers: string[] = [];
  /** Declared body length (-1 unknown); a body that arrives in one chunk is sent with end(). */
  private expected = -1;
  private held: Buffer | undefined;
  private statusText = '';
  private headWritten = false;
  // Client progress, as the sweep sees it: upload bytes and drains of a full client socket.
  private uploadedBytes = 0;
  private drains = 0;

  constructor(
    private readonly ctx: ExchangeContext,
    o: ExchangeOptions,
  ) {
    super(o.ledger);
    this.req = o.req;
    this.res = o.res;
    this.release = o.release;
    this.upstreamPath = o.upstreamPath;
    this.cacheKey = o.cacheKey;
    this.invalidates = o.invalidates;
    this.hasAuthorization = o.hasAuthorization;
    this.cacheControl = o.cacheControl;
    this.cacheOutcome = o.cacheOutcome;
    this.note = o.note;
    ctx.counters.active++;
    const res = this.res;
    res[kExchange] = this;
    res.on('close', onResponseClose);
    ctx.tracker.add(this);
    ctx.live.add(this);
  }

  /** Upload: undici wants body bytes (flowing). Download: the client's socket is full. */
  protected clientProgress(): number | undefined {
    const req = this.req;
    if (!req.readableEnded && req.readableFlowing === true) return this.uploadedBytes;
    if (this.headWritten && this.res.writableNeedDrain) return -2 - this.drains;
    return undefined;
  }

  /**
   * The client's connection is gone. Its response's 'close' says so, except for a pipelined
   * request whose response waits behind an earlier one: Node destroys such a request with the
   * socket but never emits 'close' on its response, so without this look the upstream request and
   * the admission slot would stay held until the upstream ended.
   */
  protected override clientGone(): boolean {
    return this.req.socket?.destroyed === true;
  }

  drained(): void {
    this.drains++;
    if (this.ledger !== undefined) this.account();
    this.resumeUpstream();
  }

  /**
   * What this exchange holds for its request: the tee's copy, and the bytes written to the client
   * that still wait in the response and its socket (with the body held for end()). Those are the
   * same Buffers the tee keeps, so the larger of the two is held, not their sum. Sampled at every
   * chunk and drain, the two moments the queue changes.
   */
  private account(): void {
    const tee = this.tee !== undefined && !this.tee.abandoned ? this.tee.size : 0;
    const queued = this.res.writableLength + (this.held !== undefined ? this.held.length : 0);
    this.holding(tee > queued ? tee : queued);
  }

  protected uploaded(bytes: number): void {
    this.uploadedBytes += bytes;
    this.ctx.counters.bytesIn += bytes;
    if (this.note) this.note.bytesIn += bytes;
  }

  /** The target the client sent: Express and NestJS on Express cut their mount from req.url. */
  clientUrl(): string {
    return originalUrl(this.req);
  }

  protected head(status: number, upstreamHeaders: IncomingHttpHeaders, statusText: string): boolean {
    const ms = performance.now() - this.started;
    this.ctx.counters.latency(ms);
    const headers = this.ctx.rules.response(upstreamHeaders);
    this.ctx.location?.rewrite(headers, this, this.upstreamPath);
    this.expected = contentLength(headers);
    const byClose = this.req.method !== 'HEAD' && endsByClose(status, upstreamHeaders);
    // The client gets the same framing (no chunked end marker undici's parser could not vouch for).
    if (byClose) this.res.useChunkedEncodingByDefault = false;
    if (this.cacheKey !== undefined && this.ctx.responseCache && !byClose) this.maybeTee(status, headers);
    if (this.invalidates !== undefined && status < 400) this.ctx.responseCache?.invalidate(this.invalidates);
    if (this.res.destroyed) return false;
    const note = this.note;
    if (note) note.upstreamMs = ms;
    const requestId = note?.requestId;
    // The upstream's X-Request-Id goes before ownHeaders is taken: the stored slice ends there.
    if (requestId !== undefined) dropRequestId(headers);
    this.ownHeaders = headers.length;
    if (this.cacheOutcome !== undefined) headers.push(...CACHE_STATUS_HEADERS[this.cacheOutcome]);
    if (requestId !== undefined) headers.push('x-request-id', requestId);
    this.status = status;
    // undici decodes the reason phrase as UTF-8 and Node refuses controls and characters past
    // U+00FF in it (ERR_INVALID_CHAR): only a plain ASCII one is passed on, else Node's default.
    this.statusText = REASON_PHRASE.test(statusText) ? statusText : '';
    this.headers = headers;
    return true;
  }

  private writeHead(): void {
    this.res.writeHead(this.status, this.statusText || undefined, this.headers);
    // Only now: a head Node refused leaves nothing sent, so fail() can still answer with an error.
    this.headWritten = true;
  }

  protected body(chunk: Buffer): boolean {
    if (!this.headWritten) this.writeHead();
    const n = chunk.length;
    this.bytes += n;
    this.ctx.counters.bytesOut += n;
    this.ctx.gcAssist?.relayed(n);
    if (this.tee) this.tee.push(chunk);
    // Whole body in the first chunk: hold it so headers and body leave in one write at end().
    // undici's parser never delivers more than Content-Length bytes, so nothing follows it.
    if (this.bytes === n && n === this.expected) {
      this.held = chunk;
      if (this.ledger !== undefined) this.account();
      return true;
    }
    const more = this.res.write(chunk);
    if (this.ledger !== undefined) this.account();
    if (more) return true;
    this.res.once('drain', onResponseDrain);
    return false;
  }

  protected end(): void {
    if (!this.headWritten) this.writeHead();
    if (this.tee && this.facts) {
      const upstream = this.headers.slice(0, this.ownHeaders);
      this.ctx.responseCache!.store(this.cacheKey!, this.tee, this.ttl, this.status, upstream, this.facts, this.req);
    }
    this.finish();
    const held = this.held;
    this.held = undefined;
    if (held) this.res.end(held);
    else this.res.end();
  }

  protected fail(err: Error): void {
    this.held = undefined;
    const kind = faultKind(err);
    this.ctx.counters.errors[kind]++;
    this.finish();
    if (kind === 'clientAbort') return;
    if (this.headWritten || this.res.destroyed) {
      // Mid-body: destroying the socket is the only way the client can tell the body is cut.
      this.res.destroy();
    } else {
      // Draining: the connection closes after the answer (a keep-alive client would send its next request to a closing server).
      const closeAfter = !this.req.readableEnded || kind === 'draining';
      sendError(this.res, faultError(kind, err, this.ctx.streamTimeout, this.ctx.clientTimeout), closeAfter, this.note?.requestId);
    }
    // Shed and draining are our own doing, not the upstream's: counted, not logged.
    if (kind !== 'shed' && kind !== 'draining')
      this.ctx.logger?.warn(
        { kind, code: (err as { code?: string }).code, method: this.req.method, reqId: this.note?.requestId },
        'upstream request failed',
      );
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.ctx.counters.active--;
    this.ctx.counters.completed++;
    this.release();
    this.ctx.tracker.untrack(this);
    this.ctx.live.delete(this);
    this.res[kExchange] = undefined;
    this.releaseHeld();
    // Stored or not, its copy leaves the budget all copies share.
    this.tee?.release();
  }

  private maybeTee(status: number, headers: string[]): void {
    const t = beginTee(this.ctx.responseCache!, this.cacheKey!, status, headers, this.hasAuthorization, this.cacheControl);
    if (!t) return;
    this.tee = t.tee;
    this.ttl = t.ttl;
    this.facts = t.facts;
  }
}

/**
 * A response whose body ends only when the upstream closes the connection (no Content-Length, not
 * chunked; HTTP/1.0 style). undici ends such a body normally on a reset as on a clean close, so it
 * cannot be known complete: it is never cached (a truncated copy would be served for its TTL).
 * A HEAD request's and a 1xx/204/304 response carry no body (the caller caches only GET).
 */
export function endsByClose(status: number, upstream: IncomingHttpHeaders): boolean {
  return (
    status >= 200 &&
    status !== 204 &&
    status !== 304 &&
    upstream['content-length'] === undefined &&
    upstream['transfer-encoding'] === undefined
  );
}

/** Reads the cache-relevant response headers and asks the response cache for a tee (shared with web.ts). */
export function beginTee(
  cache: ResponseCache,
  key: string,
  status: number,
  headers: string[],
  hasAuthorization: boolean,
  reqCacheControl: string | undefined,
): { tee: Tee; ttl: number; facts: ResponseFacts } | undefined {
  let cacheControl: string | undefined;
  let vary: string | undefined;
  let setCookie = false;
  let age = 0;
  let length = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (n === 'cache-control') cacheControl = cacheControl ? `${cacheControl}, ${headers[i + 1]}` : headers[i + 1];
    else if (n === 'vary') vary = vary ? `${vary}, ${headers[i + 1]}` : headers[i + 1];
    else if (n === 'set-cookie') setCookie = true;
    else if (n === 'age')
      age = deltaSeconds(headers[i + 1]!) ?? 0; // an invalid Age (negative, not a number) is ignored
    else if (n === 'content-length') length = Number(headers[i + 1]) || 0;
  }
  const facts: ResponseFacts | undefined = cacheControl ? { status, cacheControl, vary, setCookie, age } : undefined;
  const t = cache.begin(key, facts, length, hasAuthorization, reqCacheControl);
  return t ? { tee: t.tee, ttl: t.ttl, facts: facts! } : undefined;
}

/** Drops the upstream's X-Request-Id (often an echo of ours): ours replaces it, so the client sees one. */
function dropRequestId(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === 'x-request-id') headers.splice(i, 2);
}

/** A reason phrase (RFC 9112 §4) of visible ASCII, spaces and tabs. */
const REASON_PHRASE = /^[\t\x20-\x7e]*$/;

export function contentLength(headers: string[]): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return Number(headers[i + 1]);
  return -1;
}
