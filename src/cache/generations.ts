// Generations: what bounds staleness when bus messages are lost. Each tag invalidation (and each
// clear) sets the tag's (or the clear's) key in Redis to a new random token. An L1 entry holds the
// Gen objects of its tags and of the clear it was stored under; an instance re-reads the tokens of
// the Gens its reads touch at most every `interval` ms each, in one MGET per batch (one in flight
// at a time, fail-fast: on an error L1 keeps serving), and when a token changed it drops the
// tag's L1 entries (everything for the clear) and replaces the Gen. The first token read for a
// Gen replaces it too, but its entries are only read again (served if Redis fails meanwhile):
// they were stored before the token was known, so they may or may not predate an invalidation. Tokens are random, never
// counters, so a key that expired and was set again can never look unchanged (no ABA).
import { randomBytes } from 'node:crypto';

/** The commands used, as ioredis's single and cluster clients both have them. */
export interface GenClient {
  readonly status: string;
  mget(...keys: string[]): Promise<(string | null)[]>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
}

export class Gen {
  /** Redis token; null: no key (never invalidated, or expired); undefined: not read yet. */
  readonly value: string | null | undefined;
  /** Replaced by a newer Gen: entries holding this one are out of date. */
  outdated = false;
  /** Time (ms) from which the next read of this Gen asks Redis again. */
  nextCheck = 0;
  pending = false;
  constructor(
    readonly key: string,
    readonly tag: string | undefined,
    value: string | null | undefined,
  ) {
    this.value = value;
  }
}

/**
 * A generation key lives this long after its last change: an instance keeps an L1 entry at most
 * maxStale (≤ 1 h) without reading it again, so a change is seen long before its key goes. When it
 * goes, its Gen reads as changed once (entries dropped and read again: safe).
 */
export const GEN_TTL = 24 * 3_600_000;
/** Tags whose generation is followed; beyond it, tags absent from L1 are forgotten first. */
export const MAX_TAGS = 50_000;
/** Keys per MGET. */
const BATCH = 1000;

export interface GenerationsOptions {
  client: () => GenClient | undefined;
  prefix: string;
  /** Minimum time between two reads of one generation, ms. */
  interval: number;
  /**
   * A generation changed (`tag` undefined: the clear). `known`: from one token to another, so its
   * entries are out of date; else it was read for the first time and they only need reading again
   * (they hold the old Gen, now outdated). Either way reads in flight must not fill L1.
   */
  onChange: (tag: string | undefined, known: boolean) => void;
  /** Tags L1 still holds entries for (the others may be forgotten). */
  inUse: (tag: string) => boolean;
  now: () => number;
}

export interface GenerationStats {
  /** MGETs sent and keys read with them. */
  checks: number;
  keysChecked: number;
  /** Generations found changed (by a check, by this instance's own invalidations, or by a bus message). */
  changes: number;
  /** Generations whose first token was read (their entries were read again once). */
  learned: number;
  /** Checks or bumps that failed (L1 kept serving). */
  errors: number;
  tracked: number;
}

export class Generations {
  clear: Gen;
  /** The Gens of an untagged entry (shared by all of them until the clear changes). */
  base: Gen[];
  private readonly tags = new Map<string, Gen>();
  private queue: Gen[] = [];
  private running = false;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private prunedAt = -Infinity;
  private readonly s = { checks: 0, keysChecked: 0, changes: 0, learned: 0, errors: 0 };
  private readonly clearKey: string;
  private readonly tagPrefix: string;

  constructor(private readonly o: GenerationsOptions) {
    // On a cluster the prefix is the cache's hash tag ({headroom:}{gen}:…, hashed on the first
    // braces): in the cache's slot, so one MGET reads any set of them.
    this.clearKey = `${o.prefix}{gen}:clear`;
    this.tagPrefix = `${o.prefix}{gen}:t:`;
    this.clear = new Gen(this.clearKey, undefined, undefined);
    this.base = [this.clear];
  }

  /** The Gens an entry with these tags is stored under; undefined when a tag cannot be followed (then it stays out of L1). */
  gensFor(tags: readonly string[] | undefined): Gen[] | undefined {
    if (tags === undefined || tags.length === 0) return this.base;
    const out = [this.clear];
    for (const t of tags) {
      const g = this.tagGen(t);
      if (g === undefined) return undefined;
      out.push(g);
    }
    return out;
  }

  /** False when one of `gens` is out of date; asks Redis (later, batched) about those due. Hot path. */
  valid(gens: Gen[], at: number): boolean {
    for (let i = 0; i < gens.length; i++) {
      const g = gens[i]!;
      if (g.outdated) return false;
      if (at >= g.nextCheck && !g.pending) this.enqueue(g);
    }
    return true;
  }

  /** A new token for `tag` (the clear when undefined), set in Redis; also taken as this instance's own. */
  async bump(tag: string | undefined): Promise<string> {
    const token = randomBytes(9).toString('base64url');
    const key = tag === undefined ? this.clearKey : this.tagPrefix + tag;
    const client = this.o.client();
    if (client === undefined) throw new Error('redis: not loaded yet');
    await client.set(key, token, 'PX', GEN_TTL);
    this.learn(tag, token);
    return token;
  }

  /** A token heard of (own bump, bus message): replaces the Gen when it differs. */
  learn(tag: string | undefined, value: string | null): void {
    const g = tag === undefined ? this.clear : this.tags.get(tag);
    if (g === undefined || g.value === value) return;
    this.replace(g, value).nextCheck = this.o.now() + this.o.interval;
  }

  stats(): GenerationStats {
    return { ...this.s, tracked: this.tags.size + 1 };
  }

  close(): void {
    this.closed = true;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.queue = [];
  }

  private tagGen(tag: string): Gen | undefined {
    let g = this.tags.get(tag);
    if (g !== undefined) return g;
    if (this.tags.size >= MAX_TAGS) {
      // A full map of tags in use costs one pass per interval, not one per put.
      const at = this.o.now();
      if (at >= this.prunedAt + this.o.interval) this.prune();
      if (this.tags.size >= MAX_TAGS) return undefined;
    }
    this.tags.set(tag, (g = new Gen(this.tagPrefix + tag, tag, undefined)));
    return g;
  }

  /** Drops the Gens of tags L1 no longer holds: on the cache's cleanup timer, and when the map is full. */
  prune(): void {
    this.prunedAt = this.o.now();
    for (const [t, g] of this.tags) if (!g.pending && !this.o.inUse(t)) this.tags.delete(t);
  }

  private replace(g: Gen, value: string | null): Gen {
    const next = new Gen(g.key, g.tag, value);
    g.outdated = true;
    if (g.tag === undefined) {
      this.clear = next;
      this.base = [next];
    } else if (this.tags.get(g.tag) === g) {
      this.tags.set(g.tag, next);
    }
    if (g.value !== undefined) this.s.changes++;
    else this.s.learned++;
    this.o.onChange(g.tag, g.value !== undefined);
    return next;
  }

  private enqueue(g: Gen): void {
    if (this.closed) return;
    g.pending = true;
    this.queue.push(g);
    if (!this.running && this.immediate === undefined) this.immediate = setImmediate(() => void this.run());
  }

  /** Reads the queued generations, BATCH keys per MGET, one MGET at a time. */
  private async run(): Promise<void> {
    this.immediate = undefined;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const batch = this.queue.splice(0, BATCH);
        await this.read(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async read(batch: Gen[]): Promise<void> {
    let values: (string | null)[] | undefined;
    this.s.checks++;
    this.s.keysChecked += batch.length;
    try {
      const client = this.o.client();
      if (client === undefined || client.status !== 'ready') throw new Error('redis: not connected');
      values = await client.mget(...batch.map((g) => g.key));
    } catch {
      this.s.errors++;
    }
    // On an error each Gen is asked again one interval later; L1 keeps serving meanwhile.
    const next = this.o.now() + this.o.interval;
    for (let i = 0; i < batch.length; i++) {
      const g = batch[i]!;
      g.pending = false;
      g.nextCheck = next;
      const v = values?.[i];
      if (v !== undefined && v !== g.value && !g.outdated && !this.closed) this.replace(g, v).nextCheck = next;
    }
  }
}
