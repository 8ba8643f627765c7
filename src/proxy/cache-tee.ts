// Response caching for the proxy: a tee that copies a streaming response into memory while it
// passes through and gives up as soon as the body exceeds MAX_BUFFER_SIZE; hits are served with
// Age and Cache-Status (RFC 9211), and If-None-Match → 304. An entry is one Buffer (binary stays binary):
// [u32 meta length][meta JSON][body bytes].
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { boundUnread } from './respond.js';
import type { Cache } from '../cache/types.js';
import { MAX_GET_BYTES } from '../cache/stores/types.js';
import { CACHE_STATUS_HEADERS, type CacheOutcome } from '../cache/cache-status.js';
import { etagMatches } from '../cache/etag.js';
import { requestBypassesCache, requestForbidsStore, sharedTtl, type ResponseFacts } from './cache-policy.js';

interface EntryMeta {
  status: number;
  headers: string[];
  storedAt: number;
  expiresAt: number;
  /** Age (s) the response already had when stored. */
  age: number;
  vary: Record<string, string> | null;
  etag: string | undefined;
}

export interface CachedResponse extends EntryMeta {
  body: Buffer;
}

export function encodeEntry(meta: EntryMeta, body: Buffer[], size: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const out = Buffer.allocUnsafe(4 + json.length + size);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, 4);
  let at = 4 + json.length;
  for (const c of body) at += c.copy(out, at);
  return out;
}

export function decodeEntry(value: unknown): CachedResponse | undefined {
  if (!Buffer.isBuffer(value) || value.length < 4) return undefined;
  const n = value.readUInt32BE(0);
  try {
    const meta = JSON.parse(value.subarray(4, 4 + n).toString()) as EntryMeta;
    return { ...meta, body: value.subarray(4 + n) };
  } catch {
    return undefined;
  }
}

/**
 * What every tee of one response cache holds at once, and its bound: each copy is bounded by
 * MAX_BUFFER_SIZE, all of them together by this (a burst of large cacheable responses would
 * otherwise hold MAX_CONCURRENT_CONNECTIONS × MAX_BUFFER_SIZE, outside the heap, faster than a
 * memory sample can see it).
 */
export interface TeeBudget {
  held: number;
  readonly max: number;
  /** False while memory is under pressure: copies under way are dropped. */
  canWrite(): boolean;
  /** Bytes of copies given back since the last collect(), and when that was (performance.now()). */
  released: number;
  collectedAt: number;
  /**
   * Starts a full GC. A copy lives long enough to be promoted out of the young generation, so its
   * chunks, dead once it is stored or dropped, wait for a full GC, which V8 starts for memory
   * outside the heap only after hundreds of MiB (244 MiB of dead Buffers seen in a 256 MiB pod).
   */
  collect?: () => void;
}

/**
 * Copies a body while it streams; abandoned (and its chunks dropped) past its byte bound, past the
 * budget all copies share, or once memory is under pressure. release() gives its bytes back to the
 * budget when its exchange ends; a copy being stored keeps them until its write is done (keep()).
 */
export class Tee {
  chunks: Buffer[] = [];
  size = 0;
  abandoned = false;
  /** Why it was abandoned: only a body past its bound says the URL is not storable. */
  abandonedFor: 'size' | 'room' | undefined;
  private counted = 0;
  constructor(
    readonly max: number,
    private readonly budget: TeeBudget = { held: 0, max: Infinity, canWrite: () => true, released: 0, collectedAt: -Infinity },
  ) {}
  push(chunk: Buffer): void {
    if (this.abandoned) return;
    this.size += chunk.length;
    const tooLarge = this.size > this.max;
    if (tooLarge || this.budget.held + chunk.length > this.budget.max || !this.budget.canWrite()) {
      this.abandoned = true;
      this.abandonedFor = tooLarge ? 'size' : 'room';
      this.release();
      return;
    }
    this.budget.held += chunk.length;
    this.counted += chunk.length;
    this.chunks.push(chunk);
  }
  release(): void {
    const bytes = this.counted;
    this.counted = 0;
    this.chunks = [];
    giveBack(this.budget, bytes);
  }
  /**
   * The copy's bytes stay counted against the budget until the returned function is called (once
   * the stored entry is written), not until its exchange ends: the entry (and the chunks it was
   * made of) is held until then, and a burst whose copies finished faster than the disk wrote them
   * held tens of them at once (a 256 MiB pod OOM-killed by 40 × 9 MB cacheable responses).
   */
  keep(): () => void {
    const bytes = this.counted;
    this.counted = 0;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      giveBack(this.budget, bytes);
    };
  }
}

function giveBack(b: TeeBudget, bytes: number): void {
  b.held -= bytes;
  b.released += bytes;
  // Once a budget's worth of copies is dead, a full GC frees them: at most one per budget, and
  // one per COLLECT_INTERVAL (a second was too slow: a burst of 20 × 4 MB copies in a 256 MiB
  // pod was OOM-killed between two).
  if (b.collect !== undefined && b.released >= b.max) {
    const now = performance.now();
    if (now - b.collectedAt < COLLECT_INTERVAL) return;
    b.released = 0;
    b.collectedAt = now;
    b.collect();
  }
}

/**
 * The key a response is stored under: the origin the upstream is told it serves, the client's
 * mount when it differs from the prefix (a stored redirect's Location was rewritten to it), and
 * the upstream path and query. NUL, which neither a header value nor a mapped path can hold,
 * separates them, so the parts of two different requests never run together into one key.
 */
export function responseCacheKey(origin: string, path: string, clientPrefix?: string): string {
  return clientPrefix === undefined ? `proxy:${origin}\0${path}` : `proxy:${origin}\0${clientPrefix}\0${path}`;
}

/** Shortest time between two full GCs started for dead copies, ms (each ~5–20 ms on a small heap, concurrent). */
export const COLLECT_INTERVAL = 100;

/** Bodies' worth (MAX_BUFFER_SIZE each) that all copies under way may hold together. */
export const TEE_BODIES = 2;

/** Room left in a stored entry for its metadata (status, headers, Vary) beside the body. */
const ENTRY_META_ROOM = 64 * 1024;

/**
 * The largest body teed: MAX_BUFFER_SIZE, but never more than the cache gives back whole with
 * get() (less the entry's metadata): a larger entry would be stored and never served, or, in an
 * L1-only cache, buffered on every request and never kept.
 */
export function teeLimit(maxBufferSize: number, cache: Cache): number {
  return Math.max(0, Math.min(maxBufferSize, (cache.maxValueBytes ?? MAX_GET_BYTES) - ENTRY_META_ROOM));
}

/** What the cache reads from a request: its headers (Vary). An IncomingMessage is one; proxy.fetch builds one from a Web Request. */
export interface RequestHeaders {
  headers: IncomingHttpHeaders;
}

/** A hit as status, header list and body (undefined for HEAD and 304). */
export interface CachedAnswer {
  status: number;
  headers: string[];
  body: Buffer | undefined;
}

export interface ResponseCacheOptions {
  cache: Cache;
  /** Largest body teed (MAX_BUFFER_SIZE); never more than teeLimit() allows. */
  maxBufferSize: number;
  /** ms a hit's answer may make no progress before its connection is closed (CLIENT_READ_TIMEOUT); 0 = no bound. */
  clientReadTimeout?: number;
  cacheAuthorized: boolean;
  /** Starts a full GC once a budget's worth of copies is dead (see TeeBudget.collect); none when not given. */
  collect?: () => void;
  /** False while memory is under pressure: writes are skipped. */
  canWrite: () => boolean;
  /** Tag put on every entry so the operator can drop them at once. Default 'proxy'. */
  tag?: string;
  /**
   * How long a URL whose response was not storable skips cache lookups, ms (default 10 000): an
   * API that never sends Cache-Control then costs no cache round trip (L2 may be disk or Redis)
   * per request. Bounded to `uncacheableMax` URLs (default 10 000).
   */
  uncacheableTtl?: number;
  uncacheableMax?: number;
}

export interface ResponseCacheStats {
  hits: number;
  misses: number;
  notModified: number;
  stored: number;
  abandoned: number;
  skippedPressure: number;
  /** Lookups skipped because the URL's last response was not storable. */
  skippedUncacheable: number;
  /** Bytes the copies under way hold now (at most 2 × MAX_BUFFER_SIZE together). */
  copyingBytes: number;
}

/** The Cache-Status reason of each skip() answer: the request said no-cache, or the URL is known uncacheable. */
export const SKIP_OUTCOME = { bypass: 'request', uncacheable: 'bypass' } as const satisfies Record<string, CacheOutcome>;

export function createResponseCache(options: ResponseCacheOptions) {
  const { cache, cacheAuthorized } = options;
  const maxBufferSize = teeLimit(options.maxBufferSize, cache);
  const clientReadTimeout = options.clientReadTimeout ?? 0;
  const teeBudget: TeeBudget = {
    held: 0,
    max: TEE_BODIES * maxBufferSize,
    canWrite: options.canWrite,
    released: 0,
    collectedAt: -Infinity,
    collect: options.collect,
  };
  const tags = [options.tag ?? 'proxy'];
  const stats: Omit<ResponseCacheStats, 'copyingBytes'> = {
    hits: 0,
    misses: 0,
    notModified: 0,
    stored: 0,
    abandoned: 0,
    skippedPressure: 0,
    skippedUncacheable: 0,
  };
  const uncacheableTtl = options.uncacheableTtl ?? 10_000;
  const uncacheableMax = options.uncacheableMax ?? 10_000;
  // Insertion-ordered, so the oldest entry is dropped first when full.
  const uncacheable = new Map<string, number>();

  function markUncacheable(key: string): void {
    if (uncacheableTtl <= 0) return;
    const now = Date.now();
    const until = uncacheable.get(key);
    if (until !== undefined) {
      if (until > now) return; // still marked: the hot path of an uncacheable API
      uncacheable.delete(key);
    }
    if (uncacheable.size >= uncacheableMax) uncacheable.delete(uncacheable.keys().next().value!);
    uncacheable.set(key, now + uncacheableTtl);
  }

  const varyMatches = (entry: CachedResponse, req: RequestHeaders): boolean => {
    if (!entry.vary) return true;
    for (const name in entry.vary) if (headerString(req.headers[name]) !== entry.vary[name]) return false;
    return true;
  };

  /**
   * Synchronous pre-check, so the hot path of an uncacheable API needs no promise: 'bypass' when
   * the request's Cache-Control forbids answering from the cache (the response may still be
   * stored), 'uncacheable' when the URL's last response was not storable (no lookup until the
   * mark expires; the response is still checked, so a URL that turns cacheable is stored), undefined
   * when lookup() must ask the cache.
   */
  function skip(key: string, cacheControl: string | undefined): 'bypass' | 'uncacheable' | undefined {
    if (cacheControl !== undefined && requestBypassesCache(cacheControl)) return 'bypass';
    const until = uncacheable.get(key);
    if (until === undefined) return undefined;
    if (until > Date.now()) {
      stats.skippedUncacheable++;
      return 'uncacheable';
    }
    uncacheable.delete(key);
    return undefined;
  }

  /** A fresh entry for this request, or undefined. */
  async function lookup(key: string, req: RequestHeaders, cacheControl: string | undefined): Promise<CachedResponse | undefined> {
    if (skip(key, cacheControl) !== undefined) return undefined;
    let entry: CachedResponse | undefined;
    try {
      entry = decodeEntry(await cache.get(key));
    } catch {
      entry = undefined; // a failing cache never fails the request
    }
    if (!entry || entry.expiresAt <= Date.now() || !varyMatches(entry, req)) {
      stats.misses++;
      return undefined;
    }
    stats.hits++;
    return entry;
  }

  /** A hit (or a 304) as status, headers and body. */
  function answer(entry: CachedResponse, method: string | undefined, ifNoneMatch: string | undefined): CachedAnswer {
    const age = String(entry.age + Math.floor((Date.now() - entry.storedAt) / 1000));
    // RFC 9110 §13.2.1: preconditions count only when the answer would be a 2xx (a stored 404 stays a 404).
    if (entry.status >= 200 && entry.status < 300 && etagMatches(ifNoneMatch, entry.etag)) {
      stats.notModified++;
      const h: string[] = [];
      for (let i = 0; i < entry.headers.length; i += 2) {
        const n = entry.headers[i]!;
        if (n === 'etag' || n === 'cache-control' || n === 'vary' || n === 'expires' || n === 'date' || n === 'last-modified')
          h.push(n, entry.headers[i + 1]!);
      }
      h.push('age', age, ...HIT);
      return { status: 304, headers: h, body: undefined };
    }
    // A 204 has no body by definition (and a Web Response refuses one, even empty).
    const bodyless = method === 'HEAD' || entry.status === 204;
    return { status: entry.status, headers: entry.headers.concat('age', age, HIT), body: bodyless ? undefined : entry.body };
  }

  /** Writes a hit (or a 304) to the client; `requestId` is returned as X-Request-Id. */
  function serve(
    entry: CachedResponse,
    req: IncomingMessage,
    res: ServerResponse,
    ifNoneMatch: string | undefined,
    requestId?: string,
  ): void {
    const a = answer(entry, req.method, ifNoneMatch);
    if (requestId !== undefined) a.headers.push('x-request-id', requestId);
    // A hit holds no admission slot and is not in CLIENT_READ_TIMEOUT's sweep: without this a client
    // that never reads would keep the body and its socket for ever. Node's keep-alive timeout
    // replaces the bound once the answer is out.
    if (clientReadTimeout > 0) boundUnread(res, clientReadTimeout);
    res.writeHead(a.status, a.headers);
    writeSliced(res, a.body);
  }

  /** A tee for this response when it may be stored, else undefined. */
  function begin(
    key: string,
    facts: ResponseFacts | undefined,
    contentLength: number,
    reqHasAuth: boolean,
    reqCacheControl: string | undefined,
  ): { tee: Tee; ttl: number } | undefined {
    if (requestForbidsStore(reqCacheControl)) return undefined;
    const ttl = facts ? sharedTtl(facts, reqHasAuth, cacheAuthorized) : 0;
    if (ttl <= 0 || contentLength > maxBufferSize) {
      // Responses to Authorization-bearing requests say nothing about other clients' requests.
      if (!reqHasAuth) markUncacheable(key);
      return undefined;
    }
    uncacheable.delete(key);
    if (!options.canWrite()) {
      stats.skippedPressure++;
      return undefined;
    }
    return { tee: new Tee(maxBufferSize, teeBudget), ttl };
  }

  /** Stores a completed tee; vary values are taken from the request. */
  function store(key: string, tee: Tee, ttl: number, status: number, headers: string[], facts: ResponseFacts, req: RequestHeaders): void {
    if (tee.abandoned) {
      // Past MAX_BUFFER_SIZE the URL is skipped for a while; a copy cut for room (the shared budget,
      // memory pressure) says nothing of the URL: the next response is copied again.
      if (tee.abandonedFor === 'size') {
        stats.abandoned++;
        markUncacheable(key);
      } else stats.skippedPressure++;
      return;
    }
    if (!options.canWrite()) {
      stats.skippedPressure++;
      return;
    }
    let vary: Record<string, string> | null = null;
    if (facts.vary) {
      vary = {};
      for (const v of facts.vary.split(',')) {
        const name = v.trim().toLowerCase();
        if (name) vary[name] = headerString(req.headers[name]);
      }
    }
    const now = Date.now();
    let etag: string | undefined;
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'etag') etag = headers[i + 1];
    const meta: EntryMeta = { status, headers: stripAge(headers), storedAt: now, expiresAt: now + ttl * 1000, age: facts.age, vary, etag };
    stats.stored++;
    const written = tee.keep();
    let storing: Promise<void>;
    try {
      // transfer: the entry is a fresh Buffer of its own, taken as it is rather than copied again.
      storing = cache.set(key, encodeEntry(meta, tee.chunks, tee.size), { ttl: ttl * 1000, tags, transfer: true });
    } catch (err) {
      storing = Promise.reject(err); // a cache that throws instead of rejecting must not keep the bytes for good
    }
    storing
      .catch(() => {
        stats.stored--;
      })
      .finally(written);
  }

  /**
   * Drops what is stored for `key` after an unsafe request (POST, PUT, PATCH, DELETE …) to its URL
   * got a non-error answer (RFC 9111 §4.4): the stored copy no longer says what the upstream holds.
   * A failing cache is not the request's failure (the cache keeps the delete to apply again).
   */
  function invalidate(key: string): void {
    uncacheable.delete(key);
    cache.delete(key).catch(() => undefined);
  }

  return {
    /** The largest body copied: MAX_BUFFER_SIZE held to teeLimit(). */
    maxCopyBytes: maxBufferSize,
    skip,
    lookup,
    answer,
    serve,
    begin,
    store,
    invalidate,
    stats: (): ResponseCacheStats => ({ ...stats, copyingBytes: teeBudget.held }),
  };
}

// Our Cache-Status entry follows any the upstream sent (RFC 9211 §2: the cache nearest the
// client comes last), as one more field line.
const HIT = CACHE_STATUS_HEADERS.hit;

/** RFC 9110 §9.2.1: the methods that do not change what the upstream holds. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Whether a non-error answer to `method` invalidates the stored copy of its URL. */
export const invalidatesStored = (method: string | undefined): boolean => method !== undefined && !SAFE_METHODS.has(method);

/**
 * A hit's body is written in slices of this size, with backpressure: the socket's idle timeout
 * counts a write as progress only once it is written whole, so one large write would cut a
 * client that reads steadily but takes longer than the timeout for the whole body.
 */
const HIT_SLICE = 64 * 1024;

function writeSliced(res: ServerResponse, body: Buffer | undefined): void {
  if (body === undefined || body.length <= HIT_SLICE) return void res.end(body);
  let at = 0;
  const next = (): void => {
    while (body.length - at > HIT_SLICE) {
      const more = res.write(body.subarray(at, (at += HIT_SLICE)));
      if (!more) return void res.once('drain', next);
    }
    res.end(body.subarray(at));
  };
  next();
}

function stripAge(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== 'age') out.push(headers[i]!, headers[i + 1]!);
  return out;
}

function headerString(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}

export type ResponseCache = ReturnType<typeof createResponseCache>;
