// What the cache could not tell L2 while L2 failed or was skipped (breaker open): deletes,
// invalidations and writes (a write that did not land leaves L2's older copy, so it counts as a
// delete of that key). They are applied to L2, and published on the bus, before L2 is read or
// written again; until then the older copies in L2 would come back on every instance. Bounded:
// past MAX_UNAPPLIED keys and tags they become one invalidateAll. Held in memory only.

/** Keys and tags held; beyond it, everything is invalidated once L2 is back (always correct, just wider). */
export const MAX_UNAPPLIED = 10_000;

export class Unapplied {
  readonly keys = new Set<string>();
  readonly tags = new Set<string>();
  all = false;

  get empty(): boolean {
    return !this.all && this.keys.size === 0 && this.tags.size === 0;
  }

  key(key: string): void {
    if (this.all) return;
    this.keys.add(key);
    this.bound();
  }

  tag(tag: string): void {
    if (this.all) return;
    this.tags.add(tag);
    this.bound();
  }

  everything(): void {
    this.all = true;
    this.keys.clear();
    this.tags.clear();
  }

  stats(): { keys: number; tags: number; all: boolean } {
    return { keys: this.keys.size, tags: this.tags.size, all: this.all };
  }

  private bound(): void {
    if (this.keys.size + this.tags.size > MAX_UNAPPLIED) this.everything();
  }
}
