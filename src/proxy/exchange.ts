// One proxied request as an undici dispatch handler: relays the upstream response to the raw
// Node response with backpressure both ways (a full client socket pauses the upstream parser; the
// request body is undici's to pull from the IncomingMessage), tees cacheable bodies, and turns
// every failure into either an error answer (nothing sent yet) or a destroyed client connection
// (mid-body, so a truncated body never looks complete). The response head is written with the
// first body byte, so an upstream that breaks its framing before that still gets a 502. A client
// that makes no progress (stalled upload, stopped reading) for CLIENT_TIMEOUT loses the exchange:
// Node's socket timeout measures that, counting reads and real write progress. A class, so the
// hot path allocates one object per request and no closures.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Release, Sheddable } from '../admission/index.js';
import type { ResponseCache, Tee } from './cache-tee.js';
import type { GcAssist } from './gc-assist.js';
import type { ResponseFacts } from './cache-policy.js';
import { ProxyAbort, faultError, faultKind } from './faults.js';
import type { HeaderRules } from './headers.js';
import { sendError } from './respond.js';
import type { ProxyCounters } from './stats.js';

/** What an exchange needs from the proxy that created it. */
export interface ExchangeContext {
  counters: ProxyCounters;
  rules: HeaderRules;
  responseCache: ResponseCache | undefined;
  streamTimeout: number;
  /** CLIENT_TIMEOUT, ms; 0 = off. */
  clientTimeout: number;
  logger: Logger | undefined;
  /** Shedding registry (the shared HeadroomAdmission), if any. */
  tracker: { add(s: Sheddable): void; untrack(s: Sheddable): void } | undefined;
  gcAssist: GcAssist | undefined;
}

export const kExchange = Symbol('headroom.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };

// Shared listeners: `this` is the response; no per-request closure.
function onResponseClose(this: TaggedResponse): void {
  const ex = this[kExchange];
  if (ex && !ex.done) ex.abort(new ProxyAbort(this.writableFinished ? 'other' : 'clientAbort'));
}

// The client socket saw no read and no write progress for CLIENT_TIMEOUT.
function onClientIdle(this: TaggedResponse): void {
  const ex = this[kExchange];
  if (ex && !ex.done) ex.clientIdle();
  else if (!this.writableFinished) this.destroy(); // answer written, but the client will not take it
}

export class Exchange implements Sheddable {
  done = false;
  bytes = 0;
  private abortUpstream: ((err: Error) => void) | undefined;
  private pendingAbort: Error | undefined;
  private resume: (() => void) | undefined;
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

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly req: IncomingMessage,
    private readonly res: TaggedResponse,
    private readonly release: Release,
    private readonly started: number,
    private readonly cacheKey: string | undefined,
    private readonly reqHasAuth: boolean,
    private readonly reqCacheControl: string | undefined,
  ) {
    ctx.counters.active++;
    res[kExchange] = this;
    res.on('close', onResponseClose);
    if (ctx.clientTimeout > 0) res.setTimeout(ctx.clientTimeout, onClientIdle);
    ctx.tracker?.add(this);
  }

  /** Node's socket timeout fired: end the exchange if the client is the side that stalls. */
  clientIdle(): void {
    const req = this.req;
    // Upload: undici wants body bytes (flowing) and none came. Paused means the upstream is slow.
    const uploadStalled = !req.readableEnded && req.readableFlowing === true;
    const notReading = this.headWritten && this.res.writableNeedDrain;
    if (uploadStalled || notReading) this.abort(new ProxyAbort('clientTimeout'));
    else this.res.socket?.setTimeout?.(this.ctx.clientTimeout); // waiting on the upstream: not the client's fault
  }

  /** Aborts the upstream side (client gone, shed); undici then calls onError. */
  abort(err: Error): void {
    if (this.done) return;
    if (this.abortUpstream) this.abortUpstream(err);
    else this.pendingAbort = err;
  }

  shed(): void {
    this.abort(new ProxyAbort('shed'));
  }

  // --- undici legacy handler interface (the core's native one: no header conversion layer) ---

  onConnect(abort: (err?: Error) => void): void {
    if (this.pendingAbort) abort(this.pendingAbort);
    else this.abortUpstream = abort;
  }

  onBodySent(chunk: Buffer | string): void {
    this.ctx.counters.bytesIn += chunk.length;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx: undici continues with the final response
    this.ctx.counters.latency(performance.now() - this.started);
    const headers = this.ctx.rules.response(raw);
    this.resume = resume;
    this.expected = contentLength(headers);
    if (this.cacheKey !== undefined && this.ctx.responseCache) this.maybeTee(status, headers);
    if (this.res.destroyed) return false;
    this.status = status;
    this.statusText = statusText;
    this.headers = headers;
    return true;
  }

  private writeHead(): void {
    this.headWritten = true;
    this.res.writeHead(this.status, this.statusText || undefined, this.headers);
  }

  onData(chunk: Buffer): boolean {
    if (!this.headWritten) this.writeHead();
    const n = chunk.length;
    this.bytes += n;
    this.ctx.counters.bytesOut += n;
    this.ctx.gcAssist?.relayed(n);
    if (this.tee) this.tee.push(chunk);
    // Whole body in the first chunk: hold it so headers and body leave in one write at end().
    if (this.bytes === n && n === this.expected) {
      this.held = chunk;
      return true;
    }
    if (this.held) {
      // More than declared arrived; undici will fail the request, keep order anyway.
      this.res.write(this.held);
      this.held = undefined;
    }
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    if (!this.headWritten) this.writeHead();
    if (this.tee && this.facts) {
      this.ctx.responseCache!.store(this.cacheKey!, this.tee, this.ttl, this.status, this.headers, this.facts, this.req);
    }
    this.finish();
    const held = this.held;
    this.held = undefined;
    if (held) this.res.end(held);
    else this.res.end();
  }

  onError(err: Error): void {
    this.held = undefined;
    const kind = faultKind(err);
    this.ctx.counters.errors[kind]++;
    this.finish();
    if (kind === 'clientAbort') return;
    if (this.headWritten || this.res.destroyed) {
      // Mid-body: destroying the socket is the only way the client can tell the body is cut.
      this.res.destroy();
    } else {
      const unreadBody = !this.req.readableEnded;
      sendError(this.res, faultError(kind, err, this.ctx.streamTimeout, this.ctx.clientTimeout), unreadBody);
    }
    if (kind !== 'shed') this.ctx.logger?.warn({ kind, code: (err as { code?: string }).code, method: this.req.method }, 'upstream request failed');
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.ctx.counters.active--;
    this.ctx.counters.completed++;
    this.release();
    this.ctx.tracker?.untrack(this);
    this.res[kExchange] = undefined;
  }

  private maybeTee(status: number, headers: string[]): void {
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
      else if (n === 'age') age = Number.parseInt(headers[i + 1]!, 10) || 0;
      else if (n === 'content-length') length = Number(headers[i + 1]) || 0;
    }
    const facts: ResponseFacts | undefined = cacheControl ? { status, cacheControl, vary, setCookie, age } : undefined;
    const t = this.ctx.responseCache!.begin(this.cacheKey!, facts, length, this.reqHasAuth, this.reqCacheControl);
    if (!t) return;
    this.tee = t.tee;
    this.ttl = t.ttl;
    this.facts = facts!;
  }
}

function contentLength(headers: string[]): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return Number(headers[i + 1]);
  return -1;
}
