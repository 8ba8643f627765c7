// L1: the in-process tier. Synchronous, bounded by bytes (as held, see size.ts) and by entries.
// Eviction is SIEVE (Zhang et al., NSDI '24): a hit only sets a bit, so get() never touches the
// list, and a hand sweeping from the oldest entry evicts the first unvisited one. It beats LRU on
// skewed traces (bench/cache.ts, Zipf 0.9) and is cheaper on the hit path.
import { prepare, type ValueType } from './codec.js';
import { entrySize, TAG_SET_OVERHEAD } from './size.js';
import { now } from './clock.js';
import { resolveL1Options } from './options.js';
import { checkL1Set } from './call-options.js';
import type { Gen } from './generations.js';

/** Why an entry left L1, or (too_large) was never kept: over maxEntryBytes or the effective budget. */
export type EvictionReason = 'size' | 'entries' | 'expired' | 'pressure' | 'too_large';

export interface L1Entry {
  key: string;
  value: unknown;
  type: ValueType;
  size: number;
  expiresAt: number;
  staleUntil: number;
  tags: string[] | undefined;
  /** When the value was last known current (read from L2 or set here), ms: see the cache's maxStale. */
  checkedAt: number;
  /** Generations of its tags and of the clear it was stored under (a cache with Redis; see generations.ts). */
  gens: Gen[] | undefined;
  visited: boolean;
  hits: number;
  newer: L1Entry | undefined;
  older: L1Entry | undefined;
}

/** Defaults and bounds: those of createCache's l1 and defaultTtl (src/cache/options.ts). */
export interface L1Options {
  maxBytes?: number;
  maxEntries?: number;
  /** Unset: 8 MiB, or maxBytes if smaller. */
  maxEntryBytes?: number;
  defaultTtl?: number;
}

export class L1 {
  readonly maxBytes: number;
  readonly maxEntries: number;
  readonly maxEntryBytes: number;
  readonly defaultTtl: number;
  effectiveMaxBytes: number;
  bytes = 0;
  hits = 0;
  misses = 0;
  readonly evictions: Record<EvictionReason, number> = { size: 0, entries: 0, expired: 0, pressure: 0, too_large: 0 };
  private readonly map = new Map<string, L1Entry>();
  private readonly tagIndex = new Map<string, Set<string>>();
  private head: L1Entry | undefined; // newest
  private tail: L1Entry | undefined; // oldest
  private hand: L1Entry | undefined;

  constructor(options?: L1Options) {
    const o = resolveL1Options(options);
    this.maxBytes = o.maxBytes;
    this.maxEntries = o.maxEntries;
    this.maxEntryBytes = o.maxEntryBytes;
    this.defaultTtl = o.defaultTtl;
    this.effectiveMaxBytes = this.maxBytes;
  }

  get size(): number {
    return this.map.size;
  }

  /** Fresh value or undefined (counts a hit or a miss). */
  get(key: string): unknown {
    const e = this.map.get(key);
    if (e !== undefined && e.expiresAt > now()) {
      e.visited = true;
      e.hits++;
      this.hits++;
      return e.value;
    }
    this.misses++;
    if (e !== undefined && e.staleUntil <= now()) this.remove(e, 'expired');
    return undefined;
  }

  /** The entry even when stale (within its grace), without counting; drops it past grace. */
  peek(key: string, at = now()): L1Entry | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.staleUntil <= at) {
      this.remove(e, 'expired');
      return undefined;
    }
    return e;
  }

  /** Marks a hit on an entry returned by peek(). */
  touch(e: L1Entry): void {
    e.visited = true;
    e.hits++;
    this.hits++;
  }

  has(key: string): boolean {
    const e = this.map.get(key);
    return e !== undefined && e.expiresAt > now();
  }

  /** Convenience for direct (synchronous) use: normalises the value like the tiered cache does. */
  set(key: string, value: unknown, o: { ttl?: number; tags?: string[] } = {}): boolean {
    checkL1Set(key, o);
    const p = prepare(value);
    const expiresAt = now() + (o.ttl ?? this.defaultTtl);
    return this.put(key, p.type, p.l1Value, expiresAt, expiresAt, o.tags);
  }

  /** Stores an already-normalised value; false when it is too large for L1 (it then lives in L2 only). */
  put(
    key: string,
    type: ValueType,
    value: unknown,
    expiresAt: number,
    staleUntil: number,
    tags?: string[],
    gens?: Gen[],
    checkedAt = now(),
  ): boolean {
    const kept = tags !== undefined && tags.length > 0 ? tags : undefined;
    const size = entrySize(key, type, value, kept, gens);
    const old = this.map.get(key);
    if (old !== undefined) this.remove(old);
    if (size > this.maxEntryBytes || size > this.effectiveMaxBytes) {
      this.evictions.too_large++; // counted: without an L2 such a set() stores nothing at all
      return false;
    }
    // Room is made before the entry goes in, as SIEVE does: once every older entry has been read,
    // the hand would otherwise clear their marks and evict the new, unread entry itself.
    while (this.map.size > 0 && this.bytes + size > this.effectiveMaxBytes && this.evictOne('size'));
    while (this.map.size >= this.maxEntries && this.evictOne('entries'));
    const e: L1Entry = {
      key,
      value,
      type,
      size,
      expiresAt,
      staleUntil,
      tags: kept,
      checkedAt,
      gens,
      visited: false,
      hits: 0,
      newer: undefined,
      older: this.head,
    };
    if (this.head !== undefined) this.head.newer = e;
    this.head = e;
    if (this.tail === undefined) this.tail = e;
    this.map.set(key, e);
    this.bytes += size;
    if (e.tags !== undefined) for (const t of e.tags) this.tagSet(t).add(key);
    // Its new tag sets may still exceed the budget: others go, never the entry just stored.
    while (this.bytes > this.effectiveMaxBytes && this.evictOne('size', e));
    return true;
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (e === undefined) return false;
    this.remove(e);
    return true;
  }

  /** True while some entry carries `tag`. */
  hasTag(tag: string): boolean {
    return this.tagIndex.has(tag);
  }

  deleteTag(tag: string): number {
    const keys = this.tagIndex.get(tag);
    if (keys === undefined) return 0;
    let n = 0;
    for (const k of [...keys]) if (this.delete(k)) n++;
    return n;
  }

  clear(reason?: EvictionReason): void {
    if (reason !== undefined) this.evictions[reason] += this.map.size;
    this.map.clear();
    this.tagIndex.clear();
    this.head = this.tail = this.hand = undefined;
    this.bytes = 0;
  }

  /** Changes the effective byte budget (memory pressure); shrinking evicts down to it now. */
  setLimit(bytes: number): void {
    this.effectiveMaxBytes = Math.max(0, Math.min(bytes, this.maxBytes));
    if (this.effectiveMaxBytes === 0) this.clear('pressure');
    while (this.bytes > this.effectiveMaxBytes && this.evictOne('pressure'));
  }

  /** Drops entries past their grace; bounded work per call. */
  sweep(at = now(), limit = 100_000): number {
    let n = 0;
    let seen = 0;
    for (const e of this.map.values()) {
      if (seen++ >= limit) break;
      if (e.staleUntil <= at) {
        this.remove(e, 'expired');
        n++;
      }
    }
    return n;
  }

  topKeys(n: number): { key: string; count: number }[] {
    const out: { key: string; count: number }[] = [];
    for (const e of this.map.values()) {
      if (e.hits === 0) continue;
      out.push({ key: e.key, count: e.hits });
    }
    out.sort((a, b) => b.count - a.count);
    return out.slice(0, Math.max(0, n));
  }

  /** The tag's index Set; a new one is counted in `bytes` until its last entry goes. */
  private tagSet(tag: string): Set<string> {
    let s = this.tagIndex.get(tag);
    if (s === undefined) {
      this.tagIndex.set(tag, (s = new Set()));
      this.bytes += TAG_SET_OVERHEAD;
    }
    return s;
  }

  /** Evicts one entry other than `keep`; false when there is none. */
  private evictOne(reason: EvictionReason, keep?: L1Entry): boolean {
    let h = this.hand ?? this.tail;
    if (h === undefined || (keep !== undefined && this.map.size === 1)) return false;
    while (h.visited || h === keep) {
      h.visited = false;
      h = h.newer ?? this.tail!;
    }
    this.hand = h.newer;
    this.remove(h, reason);
    return true;
  }

  private remove(e: L1Entry, reason?: EvictionReason): void {
    if (reason !== undefined) this.evictions[reason]++;
    if (this.hand === e) this.hand = e.newer;
    if (e.newer !== undefined) e.newer.older = e.older;
    else this.head = e.older;
    if (e.older !== undefined) e.older.newer = e.newer;
    else this.tail = e.newer;
    e.newer = e.older = undefined;
    this.map.delete(e.key);
    this.bytes -= e.size;
    if (e.tags !== undefined) {
      for (const t of e.tags) {
        const s = this.tagIndex.get(t);
        if (s === undefined) continue;
        s.delete(e.key);
        if (s.size === 0) {
          this.tagIndex.delete(t);
          this.bytes -= TAG_SET_OVERHEAD;
        }
      }
    }
  }
}

/** A standalone synchronous L1 (what the tiered cache uses as its first tier). */
export function createL1(options?: L1Options): L1 {
  return new L1(options);
}
