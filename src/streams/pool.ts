// ObjectPool: reuse of costly objects (buffers, parsers) with a bound on what the pool keeps. The
// pool never holds more than `max` idle objects; one released beyond that is left to the GC.
import { checkFunction, checkInt, checkOptions, shown } from './check.js';

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
  // Checked here, not at the first acquire() or release() that would call them.
  checkOptions('createObjectPool', options, ['create', 'reset', 'max'], false);
  checkFunction('createObjectPool', 'create', options.create);
  checkFunction('createObjectPool', 'reset', options.reset, true);
  const max = checkInt('createObjectPool', 'max', options.max, 16, 1, 100_000);
  const { create, reset } = options; // the functions checked, whatever later becomes of the options object
  const idle: T[] = [];
  // What is idle, to refuse a second release (two later acquire() calls would share the object).
  const idleSet = new Set<T>();
  // What acquire() handed out and is not back yet: an object the pool never made (or another
  // pool's) is refused, since reset() and later users of it assume it is one of create()'s.
  const out = new WeakSet<object>();
  const track = (obj: T): T => {
    if (typeof obj === 'object' || typeof obj === 'function') out.add(obj as object);
    return obj;
  };
  let created = 0;
  return {
    acquire(): T {
      if (idle.length > 0) {
        const obj = idle.pop()!;
        idleSet.delete(obj);
        return track(obj);
      }
      const obj = create();
      // An undefined or null object could not be told from none (and release() refuses it).
      if (obj === undefined || obj === null)
        throw new TypeError(`createObjectPool: create() must return a value other than undefined or null, got ${shown(obj)}`);
      created++;
      return track(obj);
    },
    release(obj: T): void {
      // Kept, the next acquire() would hand out undefined instead of a new object.
      if (obj === undefined || obj === null)
        throw new TypeError(`createObjectPool: release() needs an object that acquire() returned, got ${shown(obj)}`);
      if (idleSet.has(obj)) throw new TypeError('createObjectPool: release() of an object that is already in the pool (released twice)');
      if (typeof obj === 'object' || typeof obj === 'function') {
        if (!out.delete(obj as object))
          throw new TypeError(
            `createObjectPool: release() of ${shown(obj)} that this pool's acquire() did not hand out (or that was released already)`,
          );
      }
      if (idle.length >= max) return;
      reset?.(obj);
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
