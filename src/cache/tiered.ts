// The two-tier cache: L1 (in-process, synchronous, byte-budgeted) in front of one L2 store (disk
// by default, Redis with REDIS_URL) and, with Redis, an invalidation bus between instances.
// L2 failures (store codes, see l2Outcome) never reach callers: they are counted, a circuit
// breaker skips L2 for a while, and L1 keeps serving. The caller's own errors do reach them.
// With Redis, an L1 copy is served only while it can be trusted (see trusted()): bus messages can
// be lost, so copies are read again after maxStale, after a gap in the bus or a reconnect, and
// when a generation of their tags changed (generations.ts).
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { HeadroomError, isHeadroomError } from '../errors.js';
import type { MemoryStatus } from '../monitor/types.js';
import type { BusMessage } from './bus.js';
import { decode, prepare, toBuffer, ValueType, type Encoded, type Meta } from './codec.js';
import { now } from './clock.js';
import { L1, type L1Entry } from './l1.js';
import { Breaker, Flight, type Caller } from './loader.js';
import { checkGetOrSet, checkKey, checkSet, checkSetStream, checkTag } from './call-options.js';
import { Unapplied } from './unapplied.js';
import { keyPrefixOf, resolveCacheOptions } from './options.js';
import { Versions, type ReadToken } from './versions.js';
import { Generations } from './generations.js';
import { DiskStore } from './stores/disk.js';
import { createLazyRedis, type BusHandle } from './stores/redis-lazy.js';
import { MAX_GET_BYTES, type L2Store } from './stores/types.js';
import type { Cache, CacheOptions, CacheStats, GetOrSetOptions, SetOptions, StreamEntry } from './types.js';

interface Found {
  value: unknown;
  expiresAt: number;
  staleUntil: number;
}

/** A flight's answer: the value, and whether it is a stale one served under grace. */
interface Answer<T> {
  value: T;
  stale: boolean;
}

/** L2 was not asked or did not answer (breaker open, failure, closing): not the same as a miss. */
const FAILED = Symbol('l2 failed');
/** Soonest retry of what L2 did not take (with breakDuration 0 the breaker never waits). */
const MIN_APPLY_RETRY_MS = 250;
type Failed = typeof FAILED;

export class TieredCache implements Cache {
  readonly l1: L1;
  /** See Cache.maxValueBytes. */
  readonly maxValueBytes: number;
  private readonly l2: L2Store | undefined;
  private readonly bus: BusHandle | undefined;
  private readonly breaker: Breaker;
  /** L2 operations started so far: an answer counts as the end of an outage only from one started after its last failure. */
  private l2Ops = 0;
  /** While an outage is logged and not over: l2Ops at its latest failure. */
  private l2DownAt: number | undefined;
  /** What L2 did not take while it failed or was skipped (see unapplied.ts). */
  private unapplied: Unapplied | undefined;
  private applying: Promise<boolean> | undefined;
  /** The next try of what L2 did not take, when no call of this instance's tries it first (scheduleApply). */
  private applyTimer: NodeJS.Timeout | undefined;
  private readonly defaultTtl: number;
  private readonly loaderTimeout: number;
  private readonly shrinkRatio: number;
  private readonly logger: Logger | undefined;
  /** getOrSet loads in flight, by key (single-flight; see loader.ts). */
  private readonly inflight = new Map<string, Flight<Answer<unknown>>>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: (() => void) | undefined;
  private l2Hits = 0;
  private l2Misses = 0;
  private l2Errors = 0;
  private deduplicated = 0;
  private readonly loader = { calls: 0, errors: 0, timeouts: 0, refreshes: 0 };
  /** An L2 read or a load that raced a write/invalidation of its key does not fill L1 (or L2) with old data. */
  private readonly versions = new Versions();
  /** With Redis only: generations of tags and clears, and the trust rules of L1 copies. */
  private readonly gens: Generations | undefined;
  private readonly maxStale: number;
  private readonly generationCheckInterval: number;
  /** L1 copies checked before this time (ms) are read again: set on a bus gap or reconnect. */
  private trustFrom = 0;
  private revalidations = 0;
  private servedOnL2Failure = 0;
  private closing: Promise<void> | undefined;
  /** The callers' streams setStream is reading: close() destroys them (a stalled one would hold it open). */
  private readonly streaming = new Set<Readable>();
  private endedByClose: Error | undefined;

  constructor(options?: CacheOptions) {
    // Every option is checked before anything starts (no store, connection or timer on a refusal).
    const o = resolveCacheOptions(options);
    this.defaultTtl = o.defaultTtl;
    this.loaderTimeout = o.loaderTimeout;
    this.shrinkRatio = o.pressureShrinkRatio;
    this.logger = o.logger;
    this.breaker = new Breaker(o.breakDuration);
    this.l1 = new L1(o.l1);
    this.maxValueBytes = this.l1.maxEntryBytes;
    this.maxStale = o.maxStale;
    this.generationCheckInterval = o.generationCheckInterval;
    if (o.redis) {
      // ioredis is loaded here, only with Redis configured (see redis-lazy.ts).
      const redis = createLazyRedis(
        {
          ...o.redis,
          onReady: () => {
            this.breaker.reset();
            if (this.unapplied !== undefined) void this.applyUnapplied();
            void redis.store.sweep().catch(() => undefined);
          },
          onWarn: (fields, message) => this.logger?.warn(fields, message),
        },
        {
          channel: `${o.redis.keyPrefix}bus`,
          onMessage: (m) => this.onBus(m),
          // Messages may have been missed while disconnected, or were lost (a gap in a sender's
          // sequence): every L1 copy is read again before it is served (or served if Redis fails).
          onResync: () => this.revalidateAll(),
          onGap: () => this.revalidateAll(),
          onError: () => undefined,
          faults: o.busFaults,
        },
      );
      this.l2 = redis.store;
      this.maxValueBytes = MAX_GET_BYTES;
      this.bus = redis.bus;
      this.gens = new Generations({
        client: () => redis.store.generationClient,
        prefix: keyPrefixOf(o.redis), // the store's: on a cluster the hash tag, so they share the cache's slot
        interval: o.generationCheckInterval,
        onChange: (tag, known) => {
          this.versions.bumpAll();
          if (!known) return;
          if (tag === undefined) this.l1.clear();
          else this.l1.deleteTag(tag);
        },
        inUse: (tag) => this.l1.hasTag(tag),
        now: Date.now,
      });
    } else if (o.disk) {
      const disk = new DiskStore(o.disk);
      this.l2 = disk;
      this.maxValueBytes = disk.maxGetBytes;
    }
    if (o.monitor) {
      this.unsubscribe = o.monitor.onPressure((level) => this.applyPressure(level));
      this.applyPressure(o.monitor.status());
    }
    this.timer = setInterval(() => this.cleanup(), o.cleanupInterval);
    this.timer.unref();
  }

  async get<T>(key: string): Promise<T | undefined> {
    this.refuseIfClosed('get');
    checkKey('get', key);
    if (this.gens !== undefined) {
      const found = await this.lookup(key);
      return found !== undefined && found.expiresAt > Date.now() ? (found.value as T) : undefined;
    }
    const v = this.l1.get(key);
    if (v !== undefined) return v as T;
    const found = await this.fromL2(key);
    return found !== FAILED && found !== undefined && found.expiresAt > Date.now() ? (found.value as T) : undefined;
  }

  async has(key: string): Promise<boolean> {
    this.refuseIfClosed('has');
    checkKey('has', key);
    if (this.gens !== undefined) {
      const found = await this.lookup(key);
      return found !== undefined && found.expiresAt > Date.now();
    }
    if (this.l1.has(key)) return true;
    // L2 is asked for the entry's header (getStream), not its value: has() of a 60 MiB value must
    // not read it into memory, and one above get()'s limit (maxGetBytes) exists all the same.
    const s = await this.l2Try((st) => st.getStream(key));
    if (s === FAILED || s === undefined) return false;
    s.stream.destroy();
    return s.expiresAt > Date.now();
  }

  /**
   * get() with Redis: a trusted, fresh L1 copy; else L2 (which refills L1); when L2 fails, the L1
   * copy anyway (fail fast to L1: Redis being down must not turn hits into misses).
   */
  private async lookup(key: string): Promise<Found | undefined> {
    const at = now();
    const e = this.l1.peek(key, at);
    const fresh = e !== undefined && e.expiresAt > at;
    if (fresh && this.trusted(e, at)) {
      this.l1.touch(e);
      return e;
    }
    this.l1.misses++;
    if (fresh) this.revalidations++;
    const found = await this.fromL2(key);
    if (found !== FAILED) return found;
    return this.heldOnFailure(key);
  }

  /** The L1 copy of `key` when it is still fresh, served because L2 failed (counted). */
  private heldOnFailure(key: string): L1Entry | undefined {
    const held = this.l1.peek(key);
    if (held === undefined || held.expiresAt <= Date.now()) return undefined;
    this.servedOnL2Failure++;
    return held;
  }

  /** May this L1 copy be served without asking Redis? Always without Redis. Hot path. */
  private trusted(e: L1Entry, at: number): boolean {
    if (this.gens === undefined) return true;
    if (e.gens === undefined || e.checkedAt < this.trustFrom || at - e.checkedAt >= this.maxStale) return false;
    return this.gens.valid(e.gens, at);
  }

  /** Every L1 copy is read again before it is served (and reads in flight do not fill L1). */
  private revalidateAll(): void {
    this.versions.bumpAll();
    this.trustFrom = Date.now() + 1;
  }

  async set(key: string, value: unknown, options: SetOptions = {}): Promise<void> {
    this.refuseIfClosed('set');
    checkSet(key, options);
    return this.store(key, value, options);
  }

  /** set() once its arguments are checked (getOrSet's were checked by getOrSet). */
  private async store(key: string, value: unknown, options: SetOptions): Promise<void> {
    const p = prepare(value, options.transfer === true);
    const meta = this.meta(p.type, options);
    this.versions.bumpKey(key);
    this.putL1(key, p.type, p.l1Value, meta);
    if ((await this.l2Try((s) => s.set(key, { ...meta, payload: p.payload }))) === FAILED) this.notApplied()?.key(key);
    this.bus?.publish({ op: 'del', keys: [key] });
  }

  // Invalidations drop L1 copies before and after the L2 step: a read that started meanwhile may
  // have found the old value in L2 (before L2 dropped it) and copied it into L1. Writes in flight
  // are the store's part (it stops them) and, for setStream's L1 copy, the version check.
  async delete(key: string): Promise<void> {
    this.refuseIfClosed('delete');
    checkKey('delete', key);
    const drop = (): void => {
      this.versions.bumpKey(key);
      this.l1.delete(key);
    };
    drop();
    if ((await this.l2Try((s) => s.delete(key))) === FAILED) this.notApplied()?.key(key);
    drop();
    this.bus?.publish({ op: 'del', keys: [key] });
  }

  async invalidateByTag(tag: string): Promise<void> {
    this.refuseIfClosed('invalidateByTag');
    checkTag(tag);
    const drop = (): void => {
      this.versions.bumpAll();
      this.l1.deleteTag(tag);
    };
    drop();
    const failed = (await this.l2Try((s) => s.invalidateByTag(tag))) === FAILED;
    drop();
    // After the L2 step: an instance that sees the new generation and reads again finds it done.
    const g = await this.bumpGeneration(tag);
    if (failed || (this.gens !== undefined && g === undefined)) this.notApplied()?.tag(tag);
    this.bus?.publish({ op: 'tag', tag, g });
  }

  async invalidateAll(): Promise<void> {
    this.refuseIfClosed('invalidateAll');
    const drop = (): void => {
      this.versions.bumpAll();
      this.l1.clear();
    };
    drop();
    const failed = (await this.l2Try((s) => s.clear())) === FAILED;
    drop();
    const g = await this.bumpGeneration(undefined);
    if (failed || (this.gens !== undefined && g === undefined)) this.notApplied()?.everything();
    this.bus?.publish({ op: 'clear', g });
  }

  /** A new generation for the tag (the clear when undefined) in Redis; undefined when Redis is skipped or failed (counted). */
  private async bumpGeneration(tag: string | undefined): Promise<string | undefined> {
    if (this.gens === undefined || this.breaker.open || this.closing !== undefined) return undefined;
    try {
      return await this.gens.bump(tag);
    } catch (err) {
      this.l2Failed(err);
      return undefined;
    }
  }

  async getOrSet<T>(key: string, loader: () => Promise<T> | T, options: GetOrSetOptions = {}): Promise<T> {
    this.refuseIfClosed('getOrSet');
    checkKey('getOrSet', key);
    const at = now();
    const e: L1Entry | undefined = this.l1.peek(key, at);
    const fresh = e !== undefined && e.expiresAt > at;
    if (fresh && this.trusted(e, at)) {
      this.l1.touch(e);
      return e.value as T;
    }
    // The loader and the options are used from here on (the hit above, the hot path, uses neither).
    checkGetOrSet(key, loader, options);
    this.l1.misses++;
    if (fresh) this.revalidations++;
    else if (e !== undefined && options.grace) {
      this.refresh(key, loader, options);
      return e.value as T;
    }
    const running = this.inflight.get(key) as Flight<Answer<T>> | undefined;
    if (running !== undefined) this.deduplicated++;
    return this.wait(running ?? this.flight(key, loader, options), key, loader, options);
  }

  /** One caller's wait for a flight, under its own timeout (see loader.ts). */
  private async wait<T>(f: Flight<Answer<T>>, key: string, loader: () => Promise<T> | T, o: GetOrSetOptions): Promise<T> {
    const a = await f.join(this.callerOf(o));
    // A flight begun with grace may answer with a stale L2 value: a caller without grace waits
    // for the refresh that flight started (or loads itself) instead.
    if (a.stale && !o.grace) return this.getOrSet(key, loader, o);
    return a.value;
  }

  private callerOf(o: GetOrSetOptions): Caller {
    return {
      ttl: o.ttl ?? this.defaultTtl,
      grace: o.grace ?? 0,
      tags: o.tags,
      transfer: o.transfer === true,
      timeout: o.timeout ?? this.loaderTimeout,
    };
  }

  async getStream(key: string): Promise<StreamEntry | undefined> {
    this.refuseIfClosed('getStream');
    checkKey('getStream', key);
    const at = now();
    const e = this.l1.peek(key, at);
    const fresh = e !== undefined && e.expiresAt > at;
    if (fresh && this.trusted(e, at)) {
      this.l1.touch(e);
      return streamOf(e);
    }
    this.l1.misses++;
    if (fresh) this.revalidations++;
    const s = await this.l2Try((st) => st.getStream(key));
    if (s === FAILED) {
      const held = this.heldOnFailure(key);
      return held === undefined ? undefined : streamOf(held);
    }
    if (s === undefined || s.expiresAt <= Date.now()) {
      s?.stream.destroy();
      if (this.l2) this.l2Misses++;
      return undefined;
    }
    this.l2Hits++;
    return { stream: s.stream, size: s.size };
  }

  async setStream(key: string, readable: Readable, options: SetOptions & { size?: number } = {}): Promise<void> {
    this.refuseIfClosed('setStream');
    checkSetStream(key, readable, options);
    const meta = this.meta(ValueType.Binary, options);
    this.versions.bumpKey(key);
    this.l1.delete(key);
    // The L1 copy is put at the end: not if the key, a tag or everything was invalidated meanwhile.
    const token = this.versions.begin(key);
    // It may fail before anyone reads it (L2 opens a file or waits for Redis first): without a
    // listener that would be an uncaught error. Reading it then throws the error to the caller.
    readable.on('error', ignore);
    this.streaming.add(readable);
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
      // What L2 missed goes first (as in l2Try); if it cannot, L2 is not written now.
      const l2Ready =
        this.l2 !== undefined &&
        !this.breaker.open &&
        this.closing === undefined &&
        (this.unapplied === undefined || (await this.applyUnapplied()));
      if (this.l2 !== undefined && l2Ready && !this.breaker.open && this.closing === undefined) {
        try {
          await this.l2.setStream(key, Readable.from(tapped()), meta, options.size);
          stored = true;
        } catch (err) {
          // Ended by close(): the store, closed at the same time, may report itself closed instead.
          if (this.endedByClose !== undefined && callerError === this.endedByClose) throw callerError;
          // Too large for L2 is not the caller's error (as with set()); a failure is counted, and
          // the value goes to L1 as without L2 when the store refused it before reading.
          const outcome = err === callerError ? 'caller' : l2Outcome(err);
          if (outcome === 'caller') throw err;
          if (outcome === 'failed') {
            this.l2Failed(err);
            this.notApplied()?.key(key);
          }
        }
      } else this.notApplied()?.key(key); // L2 keeps whatever older copy it has: it goes when L2 is back
      if (!stored && !started) {
        for await (const _ of tapped()) if (parts === undefined) break;
      } else if (!stored) {
        parts = undefined; // refused part way through: the stream is gone, the copy is not the whole value
      }
      if (parts !== undefined && this.versions.unchanged(token)) this.putL1(key, ValueType.Binary, Buffer.concat(parts, bytes), meta);
      this.bus?.publish({ op: 'del', keys: [key] });
    } finally {
      readable.off('error', ignore);
      this.streaming.delete(readable);
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
              unapplied: this.unapplied?.stats() ?? { keys: 0, tags: 0, all: false },
              ...(s.redis && { redis: s.redis }),
            },
      hitRatio: lookups === 0 ? 0 : hits / lookups,
      singleFlight: { deduplicated: this.deduplicated, inFlight: this.inflight.size },
      loader: { ...this.loader },
      bus: this.bus ? this.bus.stats() : null,
      coherence: this.gens
        ? {
            maxStale: this.maxStale,
            generationCheckInterval: this.generationCheckInterval,
            revalidations: this.revalidations,
            servedOnL2Failure: this.servedOnL2Failure,
            generations: this.gens.stats(),
          }
        : null,
    };
  }

  topKeys(n: number): { key: string; count: number }[] {
    return this.l1.topKeys(n);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // L2's write reads the caller's stream through this one: the store cannot end it alone.
      this.endedByClose = new HeadroomError('HEADROOM_DRAINING', 'the cache was closed while setStream was reading the stream');
      for (const r of this.streaming) r.destroy(this.endedByClose);
      clearInterval(this.timer);
      clearTimeout(this.applyTimer);
      // A try of unapplied changes the timer began just before: its L2 call ends within
      // commandTimeout, and what it applied must still reach the peers over the bus.
      await this.applying;
      this.unsubscribe?.();
      this.gens?.close();
      await Promise.all([this.bus?.close(), this.l2?.close()]);
      this.l1.clear();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A call after close() is a mistake to report, not a write that would fill a cache nobody empties. */
  private refuseIfClosed(call: string): void {
    if (this.closing !== undefined)
      throw new HeadroomError('HEADROOM_DRAINING', `cache.${call}() was called after cache.close(); a closed cache takes no more calls`);
  }

  private meta(type: ValueType, o: SetOptions): Meta {
    // Checked by the call (call-options.ts); the default by createCache.
    const ttl = o.ttl ?? this.defaultTtl;
    const grace = o.grace ?? 0;
    const expiresAt = Date.now() + ttl;
    return { type, expiresAt, staleUntil: expiresAt + grace, tags: o.tags ?? [] };
  }

  /**
   * Starts the load of a key (L2 first, then the loader) and lists it in `inflight` until it
   * settles or is abandoned (every caller timed out). The loaded value is cached with what every
   * caller that joined before the loader returned asked for (Flight.merged), unless the flight was
   * abandoned or the key changed meanwhile.
   */
  private flight<T>(key: string, loader: () => Promise<T> | T, o: GetOrSetOptions, refreshing = false): Flight<Answer<T>> {
    let refreshAfter = false;
    // Taken before the L2 read: a set, delete or invalidation from here on means the loaded value
    // may be older than the truth, so it goes back to the callers but is not cached.
    const token = this.versions.begin(key);
    const leave = (): void => {
      if (this.inflight.get(key) === f) this.inflight.delete(key);
    };
    const f = new Flight<Answer<T>>(
      key,
      async (flight): Promise<Answer<T>> => {
        let found = await this.fromL2(key, token);
        if (found === FAILED) {
          // Redis failed: an L1 copy that was only due to be read again is served as it is.
          const held = this.heldOnFailure(key);
          if (held !== undefined) return { value: held.value as T, stale: false };
          found = undefined;
        }
        if (found !== undefined && found.expiresAt > Date.now()) return { value: found.value as T, stale: false };
        if (found !== undefined && o.grace && !refreshing) {
          refreshAfter = true;
          return { value: found.value as T, stale: true };
        }
        this.loader.calls++;
        let value: T;
        try {
          value = await flight.load(loader);
        } catch (err) {
          this.loader.errors++;
          throw err;
        }
        // Abandoned: every caller got its timeout, and a timed-out load is not cached.
        if (value !== undefined && !flight.abandoned && this.versions.unchanged(token)) await this.store(key, value, flight.merged());
        return { value, stale: false };
      },
      { onTimeout: () => this.loader.timeouts++, onAbandon: leave },
    );
    this.inflight.set(key, f);
    const done = (): void => {
      this.versions.end(token);
      leave();
      if (refreshAfter) this.refresh(key, loader, o);
    };
    f.work.then(done, done);
    return f;
  }

  /** One background refresh per key while a stale value is served (grace). */
  private refresh<T>(key: string, loader: () => Promise<T> | T, o: GetOrSetOptions): void {
    if (this.inflight.has(key) || this.closing !== undefined) return;
    this.loader.refreshes++;
    const f = this.flight(key, loader, o, true);
    f.join(this.callerOf(o)).catch((err: unknown) => this.logger?.warn({ err, key }, 'cache: background refresh failed; serving stale'));
  }

  /** L2 read that fills L1; returns stale entries too (the caller decides). Counts L2 hits/misses. FAILED: L2 did not answer. */
  private async fromL2(key: string, token?: ReadToken): Promise<Found | undefined | Failed> {
    if (this.l2 === undefined) return undefined;
    if (token === undefined) {
      const own = this.versions.begin(key);
      try {
        return await this.fromL2(key, own);
      } finally {
        this.versions.end(own);
      }
    }
    // The copy counts as checked from before the read: whatever changed after it may be missing.
    const started = now();
    const e: Encoded | undefined | Failed = await this.l2Try((s) => s.get(key));
    if (e === FAILED) return FAILED;
    // With Redis, a miss also ends an L1 copy that was being read again: the key was deleted or
    // invalidated elsewhere (unless a write came meanwhile). A disk miss leaves a copy in grace alone.
    const miss = (): undefined => {
      this.l2Misses++;
      if (this.gens !== undefined && this.versions.unchanged(token)) this.l1.delete(key);
      return undefined;
    };
    if (e === undefined) return miss();
    let value: unknown;
    try {
      value = decode(e.type, e.payload);
    } catch {
      return miss();
    }
    if (e.expiresAt > Date.now()) this.l2Hits++;
    else this.l2Misses++;
    if (this.versions.unchanged(token)) this.putL1(key, e.type, value, e, started);
    return { value, expiresAt: e.expiresAt, staleUntil: e.staleUntil };
  }

  /** An L1 put; with Redis, under the current generations of its tags (not at all when one cannot be followed). */
  private putL1(key: string, type: ValueType, value: unknown, m: Meta, checkedAt = now()): void {
    if (this.closing !== undefined) return; // a load or read that settles after close() keeps nothing
    if (this.gens === undefined) {
      this.l1.put(key, type, value, m.expiresAt, m.staleUntil, m.tags);
      return;
    }
    const gens = this.gens.gensFor(m.tags);
    if (gens === undefined) this.l1.delete(key);
    else this.l1.put(key, type, value, m.expiresAt, m.staleUntil, m.tags, gens, checkedAt);
  }

  /** Runs an L2 operation unless the breaker is open; store failures are counted, never thrown. */
  private async l2Call<R>(op: (s: L2Store) => Promise<R>): Promise<R | undefined> {
    const r = await this.l2Try(op);
    return r === FAILED ? undefined : r;
  }

  /** l2Call, telling a failure (or a skipped L2) apart from an answer. */
  private async l2Try<R>(op: (s: L2Store) => Promise<R>): Promise<R | Failed> {
    if (this.l2 === undefined || this.breaker.open || this.closing !== undefined) return FAILED;
    // What L2 missed while it was away goes first: until then its older copies are wrong.
    if (this.unapplied !== undefined && !(await this.applyUnapplied())) return FAILED;
    const started = ++this.l2Ops;
    let r: R;
    try {
      r = await op(this.l2);
    } catch (err) {
      const outcome = l2Outcome(err);
      if (outcome === 'caller') throw err;
      if (outcome === 'failed') this.l2Failed(err);
      else return undefined as R;
      return FAILED;
    }
    this.l2Answered(started);
    return r;
  }

  /** Where a change L2 did not take is kept (undefined without L2, or while closing: nothing will apply it). */
  private notApplied(): Unapplied | undefined {
    if (this.l2 === undefined || this.closing !== undefined) return undefined;
    this.scheduleApply();
    return (this.unapplied ??= new Unapplied());
  }

  /**
   * Tries what L2 did not take again once the breaker lets L2 be tried, and again after each
   * failure, without waiting for this instance's next L2 call: an instance that goes quiet (or
   * serves the key from L1) may make none for long, and until then the other instances read L2's
   * older copy (a write Redis refused for maxmemory, with Redis otherwise up: no reconnect to
   * trigger it either).
   */
  private scheduleApply(): void {
    if (this.applyTimer !== undefined || this.closing !== undefined) return;
    this.applyTimer = setTimeout(
      () => {
        this.applyTimer = undefined;
        if (this.unapplied === undefined || this.closing !== undefined) return;
        if (this.breaker.open) return this.scheduleApply();
        void this.applyUnapplied().then((applied) => {
          if (!applied) this.scheduleApply();
        });
      },
      Math.max(MIN_APPLY_RETRY_MS, this.breaker.remaining()),
    );
    this.applyTimer.unref();
  }

  /** Applies what L2 missed (one run at a time); false when L2 failed again (kept for the next try). */
  private applyUnapplied(): Promise<boolean> {
    return (this.applying ??= this.apply().finally(() => (this.applying = undefined)));
  }

  private async apply(): Promise<boolean> {
    const u = this.unapplied;
    const l2 = this.l2;
    if (u === undefined || l2 === undefined) return true;
    if (this.closing !== undefined) return false;
    try {
      // Stops between calls once close() has begun (what is left would be applied by nobody).
      while (!u.empty && this.closing === undefined) {
        if (u.all) {
          u.all = false; // a failure meanwhile sets it again
          let g: string | undefined;
          try {
            await l2.clear();
            g = await this.gens?.bump(undefined);
          } catch (err) {
            u.everything();
            throw err;
          }
          this.bus?.publish({ op: 'clear', g });
          continue;
        }
        for (const tag of [...u.tags]) {
          if (this.closing !== undefined) break;
          await l2.invalidateByTag(tag);
          const g = await this.gens?.bump(tag);
          u.tags.delete(tag);
          this.bus?.publish({ op: 'tag', tag, g });
        }
        // Published even when a later delete fails: these are gone from L2, and peers must drop theirs.
        const deleted: string[] = [];
        try {
          for (const key of [...u.keys]) {
            if (this.closing !== undefined) break;
            await l2.delete(key);
            u.keys.delete(key);
            deleted.push(key);
          }
        } finally {
          if (deleted.length > 0) this.bus?.publish({ op: 'del', keys: deleted });
        }
      }
      if (!u.empty) return false;
      if (this.unapplied === u) this.unapplied = undefined;
      return true;
    } catch (err) {
      // A try the timer began just before close(): L2 closing under it is no outage to report.
      if (this.closing === undefined) this.l2Failed(err);
      return false;
    }
  }

  /** One warn line per outage: the breaker re-opens every breakDuration while L2 stays down. */
  private l2Failed(err: unknown): void {
    this.l2Errors++;
    const first = this.breaker.trip() && this.l2DownAt === undefined;
    if (first || this.l2DownAt !== undefined) this.l2DownAt = this.l2Ops;
    if (first) this.logger?.warn({ err }, `cache: ${this.l2?.kind} L2 failed; serving from L1 while it is skipped`);
  }

  /** An answer to an operation started after the outage's last failure ends it (logged). */
  private l2Answered(op: number): void {
    if (this.l2DownAt === undefined || op <= this.l2DownAt) return;
    this.l2DownAt = undefined;
    this.logger?.info?.(`cache: ${this.l2?.kind} L2 answers again`);
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
    // The sender's new generation: taken as known, so the next check does not drop L1 again.
    if (m.g !== undefined) this.gens?.learn(m.op === 'tag' ? m.tag : undefined, m.g);
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
    this.gens?.prune();
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

function streamOf(e: L1Entry): StreamEntry {
  const bytes = toBytes(e.type, e.value);
  return { stream: Readable.from([bytes]), size: bytes.length };
}

function toBytes(type: ValueType, value: unknown): Buffer {
  if (type === ValueType.Binary) return value as Buffer;
  return Buffer.from(type === ValueType.String ? (value as string) : JSON.stringify(value), 'utf8');
}
