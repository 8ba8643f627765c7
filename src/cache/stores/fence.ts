// Writes in flight in one store, so that an invalidation (of a key, a tag, or everything) also
// catches the writes that started before it and have not landed yet: they are doomed and discard
// their data instead of landing, and one already landing is waited for (then it is in the index
// and the invalidation removes it). A new write of a key supersedes its older ones the same way.
// Only writes in flight are held: the set stays small.

export interface Write {
  readonly key: string;
  readonly tags: readonly string[];
  doomed: boolean;
  /** Set (synchronously after a last look at `doomed`) once the write has started to land. */
  landing: Promise<unknown> | undefined;
  /** Older writes of the key that had begun to land when this one began: it lands after them. */
  after: Promise<unknown> | undefined;
}

export class WriteFence {
  private readonly writes = new Set<Write>();

  /**
   * Call synchronously when the write is called, before its first await. The last write called
   * wins: older writes of the key that have not begun to land are doomed, and this one lands
   * after those that have (renames would otherwise land in the order the writes finish).
   */
  begin(key: string, tags: readonly string[]): Write {
    const landing = this.invalidate((w) => w.key === key);
    const older = [...this.writes].some((w) => w.key === key && w.landing !== undefined);
    const w: Write = { key, tags, doomed: false, landing: undefined, after: older ? landing : undefined };
    this.writes.add(w);
    return w;
  }

  /** Whether a write of `key` is in flight (it may land at any moment). */
  writing(key: string): boolean {
    for (const w of this.writes) if (w.key === key) return true;
    return false;
  }

  end(w: Write): void {
    this.writes.delete(w);
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
