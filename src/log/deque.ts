// A FIFO queue with O(1) push and shift: Array#shift is O(n) on large arrays, and the shipper's
// queues hold up to maxBytes / (64 + line) entries. Freed slots are compacted in bulk.
export class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return item;
  }

  /** Removes every item, oldest first. */
  *drain(): Generator<T> {
    while (this.length > 0) yield this.shift()!;
  }
}
