// The two-tier cache: L1 (in-process, synchronous, byte-budgeted) in front of one L2 store (disk
// by default, Redis with REDIS_URL) and, with Redis, an invalidation bus between instances.
// L2 failures (store codes, see l2Outcome) never reach callers: they are counted, a circuit
// breaker skips L2 for a while, and L1 keeps serving. The caller's own errors do reach them.
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { HeadroomError, isHeadroomError } from '../errors.js';
import type { MemoryStatus } from '../monitor/types.js';
import type { BusMessage } from './bus.js';
import { decode, prepare, toBuffer, ValueType, type Encoded, type Meta } from './codec.js';
import { now } from './clock.js';
import { L1, type L1Entry } from './l1.js';
import { Breaker, checkDuration, runLoader } from './loader.js';
import { resolveCacheOptions } from './options.js';
import { Versions, type ReadToken } from './versions.js';
import { DiskStore } from './stores/disk.js';
import { createLazyRedis, type BusHandle } from './stores/redis-lazy.js';
import type { L2Store } from './stores/types.js';
import type { Cache, CacheOptions, CacheStats, GetOrSetOptions, SetOptions, StreamEntry } from './types.js';

interface Found {
  value: unknown;
  expiresAt: number;
  staleUntil: number;
}

export class TieredCache implements Cache {
  readonly l1: L1;
  private readonly l2: L2Store | undefined;
  private readonly bus: BusHandle | undefined;
  private readonly breaker: Breaker;
  private readonly defaultTtl: number;
  private readonly loaderTimeout: number;
  private readonly shrinkRatio: number;
  private readonly logger: Logger | undefined;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: (() => void) | undefined;
  private l2Hits = 0;
  private l2Misses = 0;
  private l2Errors = 0;
  private deduplicated = 0;
  private readonly loader = { calls: 0, errors: 0, timeouts: 0, refreshes: 0 };
  /** An L2 read or a load that raced a write/invalidation of its key does not fill L1 (or L2) with old data. */
  private readonly versions = new Versions();
  private closing: Promise<void> | undefined;

  constructor(options?: CacheOptions) {
    // Every option is checked before anything starts (no store, connection or timer on a refusal).
    const o = resolveCacheOptions(options);
    this.defaultTtl = o.defaultTtl;
    this.loaderTimeout = o.loaderTimeout;
    this.shrinkRatio = o.pressureShrinkRatio;
    this.logger = o.logger;
    this.breaker = new Breaker(o.breakDuration);
    this.l1 = new L1(o.l1);
    if (o.redis) {
      // ioredis is loaded here, only with Redis configured (see redis-lazy.ts).
      const redis = createLazyRedis(
        {
          ...o.redis,
          onReady: () => {
            this.breaker.reset();
            void redis.store.sweep().catch(() => undefined);
          },
        },
        {
          channel: `${o.redis.keyPrefix}bus`,
          onMessage: (m) => this.onBus(m),
          // Messages may have been missed while disconnected: L1 copies can no longer be trusted.
          onResync: () => {
            this.versions.bumpAll();
            this.l1.clear();
          },
          onError: () => undefined,
        },
      );
      this.l2 = redis.store;
      this.bus = redis.bus;
    } else if (o.disk) {
      this.l2 = new DiskStore(o.disk);
    }
    if (o.monitor) {
      this.unsubscribe = o.monitor.onPressure((level) => this.applyPressure(level));
      this.applyPressure(o.monitor.status());
    }
    this.timer = setInterval(() => this.cleanup(), o.cleanupInterval);
    this.timer.unref();
  }

  async get<T>(key: string): Promise<T | undefined> {
    const v = this.l1.get(key);
    if (v !== undefined) return v as T;
    const found = await this.fromL2(key);
    return found !== undefined && found.expiresAt > Date.now() ? (found.value as T) : undefined;
  }

  async has(key: string): Promise<boolean> {
    if (this.l1.has(key)) return true;
    const found = await this.fromL2(key);
    return found !== undefined && found.expiresAt > Date.now();
  }

  async set(key: string, value: unknown, options: SetOptions = {}): Promise<void> {
    const p = prepare(value, options.transfer === true);
    const meta = this.meta(p.type, options);
    this.versions.bumpKey(key);
    this.l1.put(key, p.type, p.l1Value, meta.expiresAt, meta.staleUntil, meta.tags);
    await this.l2Call((s) => s.set(key, { ...meta, payload: p.payload }));
    this.bus?.publish({ op: 'del', keys: [key] });
  }

  // Invalidations drop L1 copies before and after the L2 step: a read that started meanwhile may
  // have found the old value in L2 (before L2 dropped it) and copied it into L1. Writes in flight
  // are the store's part (it stops them) and, for setStream's L1 copy, the version check.
  async delete(key: string): Promise<void> {
    const drop = (): void => {
      this.versions.bumpKey(key);
      this.l1.delete(key);
    };
    drop();
    await this.l2Call((s) => s.delete(key));
    drop();
    this.bus?.publish({ op: 'del', keys: [key] });
  }

  async invalidateByTag(tag: string): Promise<void> {
    if (typeof tag !== 'string' || tag === '') throw new TypeError('tag must be a non-empty string');
    const drop = (): void => {
      this.versions.bumpAll();
      this.l1.deleteTag(tag);
    };
    drop();
    await this.l2Call((s) => s.invalidateByTag(tag));
    drop();
    this.bus?.publish({ op: 'tag', tag });
  }

  async invalidateAll(): Promise<void> {
    const drop = (): void => {
      this.versions.bumpAll();
      this.l1.clear();
    };
    drop();
    await this.l2Call((s) => s.clear());
    drop();
    this.bus?.publish({ op: 'clear' });
  }

  async getOrSet<T>(key: string, loader: () => Promise<T> | T, options: GetOrSetOptions = {}): Promise<T> {
    const at = now();
    const e: L1Entry | undefined = this.l1.peek(key, at);
    if (e !== undefined && e.expiresAt > at) {
      this.l1.touch(e);
      return e.value as T;
    }
    this.l1.misses++;
    if (e !== undefined && options.grace) {
      this.refresh(key, loader, options);
      return e.value as T;
    }
    const running = this.inflight.get(key);
    if (running !== undefined) {
      this.deduplicated++;
      return running as Promise<T>;
    }
    return this.flight(key, loader, options);
  }

  async getStream(key: string): Promise<StreamEntry | undefined> {
    const e = this.l1.peek(key);
    if (e !== undefined && e.expiresAt > Date.now()) {
      this.l1.touch(e);
      const bytes = toBytes(e.type, e.value);
      return { stream: Readable.from([bytes]), size: bytes.length };
    }
    this.l1.misses++;
    const s = await this.l2Call((st) => st.getStream(key));
    if (s === undefined || s.expiresAt <= Date.now()) {
      s?.stream.destroy();
      if (this.l2) this.l2Misses++;
      return undefined;
    }
    this.l2Hits++;
    return { stream: s.stream, size: s.size };
  }

  async setStream(key: string, readable: Readable, options: SetOptions & { size?: number } = {}): Promise<void> {
    const meta = this.meta(ValueType.Binary, options);
    this.versions.bumpKey(key);
    this.l1.delete(key);
    // The L1 copy is put at the end: not if the key, a tag or everything was invalidated meanwhile.
    const token = this.versions.begin(key);
    // It may fail before anyone reads it (L2 opens a file or waits for Redis first): without a
    // listener that would be an uncaught error. Reading it then throws the error to the caller.
    readable.on('error', ignore);
    try {
      // Keep a copy for L1 while it fits in maxEntryBytes; stop copying (not reading) beyond that.
      const limit = this.l1.maxEntryBytes;
      const size = options.size;
      let parts: Buffer[] | undefined = size === undefined || size <= limit ? [] : undefined;
      let bytes = 0;
      let started = false;
      // Anything thrown here is the caller's (their stream failed, or broke its declared size).
      let callerError: unknown;
      const tapped = async function* (): AsyncGenerator<Buffer> {
        started = true;
        try {
          for await (const c of readable) {
            const b = toBuffer(c);
            bytes += b.length;
            if (size !== undefined && bytes > size) throw sizeMismatch(key, `exceeded its declared size ${size}`);
            if (parts !== undefined && bytes > limit) parts = undefined;
            parts?.push(b);
            yield b;
          }
          if (size !== undefined && bytes !== size) throw sizeMismatch(key, `ended at ${bytes} bytes, declared ${size}`);
        } catch (err) {
          callerError = err;
          throw err;
        }
      };
      let stored = false;
      if (this.l2 !== undefined && !this.breaker.open && this.closing === undefined) {
        try {
          await this.l2.setStream(key, Readable.from(tapped()), meta, options.size);
          stored = true;
        } catch (err) {
          // Too large for L2 is not the caller's error (as with set()); a failure is counted, and
          // the value goes to L1 as without L2 when the store refused it before reading.
          const outcome = err === callerError ? 'caller' : l2Outcome(err);
          if (outcome === 'caller') throw err;
          if (outcome === 'failed') this.l2Failed(err);
        }
      }
      if (!stored && !started) {
        for await (const _ of tapped()) if (parts === undefined) break;
      } else if (!stored) {
        parts = undefined; // refused part way through: the stream is gone, the copy is not the whole value
      }
      if (parts !== undefined && this.versions.unchanged(token))
        this.l1.put(key, ValueType.Binary, Buffer.concat(parts, bytes), meta.expiresAt, meta.staleUntil, meta.tags);
      this.bus?.publish({ op: 'del', keys: [key] });
    } finally {
      readable.off('error', ignore);
      this.versions.end(token);
    }
  }

  stats(): CacheStats {
    const l1 = this.l1;
    const s = this.l2?.stats();
    const hits = l1.hits + this.l2Hits;
    const lookups = l1.hits + l1.misses;
    return {
      l1: {
        hits: l1.hits,
        misses: l1.misses,
        bytes: l1.bytes,
        entries: l1.size,
        errors: 0,
        maxBytes: l1.maxBytes,
        effectiveMaxBytes: l1.effectiveMaxBytes,
        maxEntries: l1.maxEntries,
        evictions: { ...l1.evictions },
      },
      l2:
        s === undefined || this.l2 === undefined
          ? null
          : {
              kind: this.l2.kind,
              hits: this.l2Hits,
              misses: this.l2Misses,
              bytes: s.bytes,
              entries: s.entries || (s.keyCount ?? 0),
              errors: this.l2Errors + s.errors,
              connected: s.connected,
              keyCount: s.keyCount,
              corrupt: s.corrupt,
              evictions: s.evictions,
              breakerOpen: this.breaker.open,
              ...(s.redis && { redis: s.redis }),
            },
      hitRatio: lookups === 0 ? 0 : hits / lookups,
      singleFlight: { deduplicated: this.deduplicated, inFlight: this.inflight.size },
      loader: { ...this.loader },
      bus: this.bus
        ? { connected: this.bus.connected, published: this.bus.published, received: this.bus.received, dropped: this.bus.dropped }
        : null,
    };
  }

  topKeys(n: number): { key: string; count: number }[] {
    return this.l1.topKeys(n);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      this.unsubscribe?.();
      await Promise.all([this.bus?.close(), this.l2?.close()]);
      this.l1.clear();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private meta(type: ValueType, o: SetOptions): Meta {
    const ttl = checkDuration('ttl', o.ttl ?? this.defaultTtl);
    const grace = o.grace === undefined || o.grace === 0 ? 0 : checkDuration('grace', o.grace);
    const expiresAt = Date.now() + ttl;
    return { type, expiresAt, staleUntil: expiresAt + grace, tags: o.tags ?? [] };
  }

  private flight<T>(key: string, loader: () => Promise<T> | T, o: GetOrSetOptions, refreshing = false): Promise<T> {
    let refreshAfter = false;
    // Taken before the L2 read: a set, delete or invalidation from here on means the loaded value
    // may be older than the truth, so it goes back to the callers but is not cached.
    const token = this.versions.begin(key);
    const p = (async (): Promise<T> => {
      const found = await this.fromL2(key, token);
      if (found !== undefined && found.expiresAt > Date.now()) return found.value as T;
      if (found !== undefined && o.grace && !refreshing) {
        refreshAfter = true;
        return found.value as T;
      }
      this.loader.calls++;
      let value: T;
      try {
        value = await runLoader(key, loader, o.timeout ?? this.loaderTimeout);
      } catch (err) {
        this.loader.errors++;
        if (isHeadroomError(err) && err.code === 'HEADROOM_CACHE_LOADER_TIMEOUT') this.loader.timeouts++;
        throw err;
      }
      if (value !== undefined && this.versions.unchanged(token)) await this.set(key, value, o);
      return value;
    })();
    this.inflight.set(key, p);
    const done = (): void => {
      this.versions.end(token);
      if (this.inflight.get(key) === p) this.inflight.delete(key);
      if (refreshAfter) this.refresh(key, loader, o);
    };
    p.then(done, done);
    return p;
  }

  /** One background refresh per key while a stale value is served (grace). */
  private refresh<T>(key: string, loader: () => Promise<T> | T, o: GetOrSetOptions): void {
    if (this.inflight.has(key) || this.closing !== undefined) return;
    this.loader.refreshes++;
    const p = this.flight(key, loader, o, true);
    p.catch((err: unknown) => this.logger?.warn({ err, key }, 'cache: background refresh failed; serving stale'));
  }

  /** L2 read that fills L1; returns stale entries too (the caller decides). Counts L2 hits/misses. */
  private async fromL2(key: string, token?: ReadToken): Promise<Found | undefined> {
    if (this.l2 === undefined) return undefined;
    if (token === undefined) {
      const own = this.versions.begin(key);
      try {
        return await this.fromL2(key, own);
      } finally {
        this.versions.end(own);
      }
    }
    const e: Encoded | undefined = await this.l2Call((s) => s.get(key));
    if (e === undefined) {
      this.l2Misses++;
      return undefined;
    }
    let value: unknown;
    try {
      value = decode(e.type, e.payload);
    } catch {
      this.l2Misses++;
      return undefined;
    }
    if (e.expiresAt > Date.now()) this.l2Hits++;
    else this.l2Misses++;
    if (this.versions.unchanged(token)) this.l1.put(key, e.type, value, e.expiresAt, e.staleUntil, e.tags);
    return { value, expiresAt: e.expiresAt, staleUntil: e.staleUntil };
  }

  /** Runs an L2 operation unless the breaker is open; store failures are counted, never thrown. */
  private async l2Call<R>(op: (s: L2Store) => Promise<R>): Promise<R | undefined> {
    if (this.l2 === undefined || this.breaker.open || this.closing !== undefined) return undefined;
    try {
      return await op(this.l2);
    } catch (err) {
      const outcome = l2Outcome(err);
      if (outcome === 'caller') throw err;
      if (outcome === 'failed') this.l2Failed(err);
      return undefined;
    }
  }

  private l2Failed(err: unknown): void {
    this.l2Errors++;
    if (this.breaker.trip()) this.logger?.warn({ err }, `cache: ${this.l2?.kind} L2 failed; serving from L1 while it is skipped`);
  }

  private onBus(m: BusMessage): void {
    if (m.op === 'del') {
      for (const k of m.keys) {
        this.versions.bumpKey(k);
        this.l1.delete(k);
      }
      return;
    }
    this.versions.bumpAll();
    if (m.op === 'tag') this.l1.deleteTag(m.tag);
    else this.l1.clear();
  }

  private applyPressure(level: MemoryStatus): void {
    const l1 = this.l1;
    // Shrinks at once; grows back only when pressure ends (healthy).
    if (level === 'healthy') l1.setLimit(l1.maxBytes);
    else if (level === 'warning') l1.setLimit(Math.min(l1.effectiveMaxBytes, Math.floor(l1.maxBytes * this.shrinkRatio)));
    else l1.setLimit(0);
  }

  private cleanup(): void {
    this.l1.sweep();
    if (this.l2 !== undefined && !this.breaker.open) this.l2.sweep().catch((err: unknown) => this.l2Failed(err));
  }
}

/**
 * What an error from L2 means: a failure of the store (counted, L2 skipped a while; anything
 * without a code counts as one), a value the store does not hold (not stored, or a miss), or an
 * error that is the caller's and reaches them.
 */
function l2Outcome(err: unknown): 'failed' | 'absent' | 'caller' {
  if (!isHeadroomError(err)) return 'failed';
  switch (err.code) {
    case 'HEADROOM_CACHE_STORE_UNAVAILABLE':
    case 'HEADROOM_CACHE_STORE_CORRUPT':
      return 'failed';
    case 'HEADROOM_CACHE_ENTRY_TOO_LARGE':
    case 'HEADROOM_CACHE_STORE_BUSY':
      return 'absent';
    default:
      return 'caller';
  }
}

const ignore = (): void => undefined;
const sizeMismatch = (key: string, what: string): HeadroomError =>
  new HeadroomError('HEADROOM_CACHE_STREAM_SIZE_MISMATCH', `stream for ${key} ${what}`);

function toBytes(type: ValueType, value: unknown): Buffer {
  if (type === ValueType.Binary) return value as Buffer;
  return Buffer.from(type === ValueType.String ? (value as string) : JSON.stringify(value), 'utf8');
}
