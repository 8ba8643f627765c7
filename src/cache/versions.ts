// Versions that tell an L2 read, a getOrSet load or a setStream whether its key was written or
// invalidated while it ran (then its result must not be copied into L1: it may be older than what
// is there now). Keys are versioned only while a read of them is in flight (a bounded map); tag
// invalidation and clear bump one epoch that every reader sees. A read that finds the map full
// falls back to a counter of all key changes (conservative: any change blocks its copy).

interface KeyVersion {
  v: number;
  refs: number;
}

export interface ReadToken {
  readonly key: string;
  readonly entry: KeyVersion | undefined;
  readonly v: number;
  readonly epoch: number;
}

export class Versions {
  private epoch = 0;
  private anyKey = 0;
  private readonly keys = new Map<string, KeyVersion>();

  constructor(private readonly max = 10_000) {}

  /** A set, delete or bus message for `key`. */
  bumpKey(key: string): void {
    this.anyKey++;
    const e = this.keys.get(key);
    if (e !== undefined) e.v++;
  }

  /** A tag invalidation or clear: every in-flight read is outdated. */
  bumpAll(): void {
    this.epoch++;
  }

  begin(key: string): ReadToken {
    let e = this.keys.get(key);
    if (e === undefined && this.keys.size < this.max) this.keys.set(key, (e = { v: 0, refs: 0 }));
    if (e === undefined) return { key, entry: undefined, v: this.anyKey, epoch: this.epoch };
    e.refs++;
    return { key, entry: e, v: e.v, epoch: this.epoch };
  }

  /** True when nothing touched the key (or everything) since begin(). */
  unchanged(t: ReadToken): boolean {
    return t.epoch === this.epoch && (t.entry === undefined ? t.v === this.anyKey : t.entry.v === t.v);
  }

  /** Call exactly once per begin(). */
  end(t: ReadToken): void {
    if (t.entry !== undefined && --t.entry.refs === 0) this.keys.delete(t.key);
  }
}
