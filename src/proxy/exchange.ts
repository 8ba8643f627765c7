// One proxied request as an undici dispatch handler: relays the upstream response to the raw
// Node response with backpressure both ways (a full client socket pauses the upstream parser; the
// request body is undici's to pull from the IncomingMessage), tees cacheable bodies, and turns
// every failure into either an error answer (nothing sent yet) or a destroyed client connection
// (mid-body, so a truncated body never looks complete). A class, so the hot path allocates one
// object per request and no closures.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Release } from './admission-types.js';
import type { Sheddable } from './admission.js';
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
  logger: Logger | undefined;
  /** Shedding registry (the shared HeadroomAdmission), if any. */
  tracker: { add(s: Sheddable): void; untrack(s: Sheddable): void } | undefined;
  gcAssist: GcAssist | undefined;
}

export const kExchange = Symbol('headroom.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };

// Shared listener: `this` is the response; no per-request closure.
function onResponseClose(this: TaggedResponse): void {
  const ex = this[kExchange];
  if (ex && !ex.done) ex.abort(new ProxyAbort(this.writableFinished ? 'other' : 'clientAbort'));
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
  private headers: string[] | undefined;
  /** Declared body length (-1 unknown); a body that arrives in one chunk is sent with end(). */
  private expected = -1;
  private held: Buffer | undefined;

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
    ctx.tracker?.add(this);
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
    this.res.writeHead(status, statusText || undefined, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
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
    if (this.tee && this.facts && this.headers) {
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
    if (this.res.headersSent || this.res.destroyed) {
      // Mid-body: destroying the socket is the only way the client can tell the body is cut.
      this.res.destroy();
    } else {
      const unreadBody = !this.req.readableEnded;
      sendError(this.res, faultError(kind, err, this.ctx.streamTimeout), unreadBody);
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
    this.status = status;
    this.headers = headers;
  }
}

function contentLength(headers: string[]): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return Number(headers[i + 1]);
  return -1;
}
