// In-memory index of the disk store: LRU order (Map insertion order), byte total and tags.
// Bounded by maxEntries; it is rebuilt from file headers at start.
export interface IndexEntry {
  size: number;
  expiresAt: number;
  staleUntil: number;
  tags: string[];
}

export class DiskIndex {
  bytes = 0;
  private readonly map = new Map<string, IndexEntry>();
  private readonly tags = new Map<string, Set<string>>();

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): IndexEntry | undefined {
    return this.map.get(key);
  }

  /** Marks key as most recently used. */
  touch(key: string): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    this.map.set(key, e);
  }

  add(key: string, e: IndexEntry): void {
    this.remove(key);
    this.map.set(key, e);
    this.bytes += e.size;
    for (const t of e.tags) {
      let s = this.tags.get(t);
      if (s === undefined) this.tags.set(t, (s = new Set()));
      s.add(key);
    }
  }

  remove(key: string): boolean {
    const e = this.map.get(key);
    if (e === undefined) return false;
    this.map.delete(key);
    this.bytes -= e.size;
    for (const t of e.tags) {
      const s = this.tags.get(t);
      s?.delete(key);
      if (s?.size === 0) this.tags.delete(t);
    }
    return true;
  }

  /** Keys, least recently used first. */
  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  /** Least recently used key, or undefined. */
  oldest(): string | undefined {
    for (const k of this.map.keys()) return k;
    return undefined;
  }

  keysWithTag(tag: string): string[] {
    return [...(this.tags.get(tag) ?? [])];
  }

  expired(now: number, limit: number): string[] {
    const out: string[] = [];
    for (const [k, e] of this.map) {
      if (e.staleUntil <= now) out.push(k);
      if (out.length >= limit) break;
    }
    return out;
  }

  clear(): void {
    this.map.clear();
    this.tags.clear();
    this.bytes = 0;
  }
}
