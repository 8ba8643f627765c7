// Writes in flight in one store, so that an invalidation (of a key, a tag, or everything) also
// catches the writes that started before it and have not landed yet: they are doomed and discard
// their data instead of landing, and one already landing is waited for (then it is in the index
// and the invalidation removes it). Of two writes of one key, the one called last wins: an older
// one that finishes after it has landed (or begun to) discards its data, and a newer one lands
// after an older one already landing. Only writes in flight are held: the set stays small.

export interface Write {
  readonly key: string;
  readonly tags: readonly string[];
  doomed: boolean;
  /** Set (synchronously after a last look at `doomed` and `superseded`) once the write has started to land. */
  landing: Promise<unknown> | undefined;
  /** Order of the calls: the higher, the newer. */
  readonly seq: number;
}

export class WriteFence {
  private readonly writes = new Set<Write>();
  private seq = 0;
  /** The newest write of each key that landed, while writes of that key are in flight. */
  private readonly landed = new Map<string, number>();

  /** Call synchronously when the write is called, before its first await. */
  begin(key: string, tags: readonly string[]): Write {
    const w: Write = { key, tags, doomed: false, landing: undefined, seq: ++this.seq };
    this.writes.add(w);
    return w;
  }

  /** The landings of older writes of w's key under way: w renames after them, never before. */
  olderLanding(w: Write): Promise<unknown> | undefined {
    const landing: Promise<unknown>[] = [];
    for (const o of this.writes) if (o.key === w.key && o.seq < w.seq && o.landing !== undefined) landing.push(o.landing);
    return landing.length > 0 ? Promise.allSettled(landing) : undefined;
  }

  /** Whether a newer write of w's key has landed or begun to: w's data is older and must not land. */
  superseded(w: Write): boolean {
    if ((this.landed.get(w.key) ?? 0) > w.seq) return true;
    for (const o of this.writes) if (o.key === w.key && o.seq > w.seq && o.landing !== undefined) return true;
    return false;
  }

  /** Call once w's data is in place. */
  didLand(w: Write): void {
    if ((this.landed.get(w.key) ?? 0) < w.seq) this.landed.set(w.key, w.seq);
  }

  /** Whether a write of `key` is in flight (it may land at any moment). */
  writing(key: string): boolean {
    for (const w of this.writes) if (w.key === key) return true;
    return false;
  }

  end(w: Write): void {
    this.writes.delete(w);
    if (!this.writing(w.key)) this.landed.delete(w.key);
  }

  /**
   * Dooms the matching writes at once (call synchronously when the invalidation is called);
   * the promise resolves when those already landing have landed.
   */
  invalidate(match: (w: Write) => boolean): Promise<unknown> {
    const landing: Promise<unknown>[] = [];
    for (const w of this.writes) {
      if (!match(w)) continue;
      w.doomed = true;
      if (w.landing !== undefined) landing.push(w.landing);
    }
    return Promise.allSettled(landing);
  }

  key(key: string): Promise<unknown> {
    return this.invalidate((w) => w.key === key);
  }

  tag(tag: string): Promise<unknown> {
    return this.invalidate((w) => w.tags.includes(tag));
  }

  all(): Promise<unknown> {
    return this.invalidate(() => true);
  }
}
