// ObjectPool: reuse of costly objects (buffers, parsers) with a bound on what the pool keeps. The
// pool never holds more than `max` idle objects; one released beyond that is left to the GC.
import { checkInt } from './check.js';

export interface ObjectPoolOptions<T> {
  create: () => T;
  /** Called on release, before the object is kept (clear it so it holds nothing of its last use). */
  reset?: (obj: T) => void;
  /** Most idle objects kept; default 16, 1 to 100,000. */
  max?: number;
}

export interface ObjectPool<T> {
  acquire(): T;
  release(obj: T): void;
  /** Idle objects held now (≤ max). */
  readonly size: number;
  readonly created: number;
  clear(): void;
}

export function createObjectPool<T>(options: ObjectPoolOptions<T>): ObjectPool<T> {
  if (typeof options?.create !== 'function') throw new TypeError('createObjectPool: create must be a function');
  const max = checkInt('createObjectPool', 'max', options.max, 16, 1, 100_000);
  const idle: T[] = [];
  // What is idle, to refuse a second release (two later acquire() calls would share the object).
  const idleSet = new Set<T>();
  let created = 0;
  return {
    acquire(): T {
      if (idle.length > 0) {
        const obj = idle.pop()!;
        idleSet.delete(obj);
        return obj;
      }
      created++;
      return options.create();
    },
    release(obj: T): void {
      if (idleSet.has(obj)) throw new TypeError('createObjectPool: release() of an object that is already in the pool (released twice)');
      if (idle.length >= max) return;
      options.reset?.(obj);
      idle.push(obj);
      idleSet.add(obj);
    },
    get size() {
      return idle.length;
    },
    get created() {
      return created;
    },
    clear(): void {
      idle.length = 0;
      idleSet.clear();
    },
  };
}
