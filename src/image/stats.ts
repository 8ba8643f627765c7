// Counters for /admin/image-stats and headroom_image_*. The index of cached entries (the
// totalImages/totalSize/oldest/newest) covers what this instance stored; it is bounded, and an
// entry found missing on read (evicted or expired) is dropped from it.
import { isHeadroomError } from '../errors.js';

const MAX_INDEX = 10_000;

export function createImageCounters() {
  const index = new Map<string, { size: number; at: number }>();
  let totalSize = 0;
  const c = { hits: 0, misses: 0, notModified: 0, bytesServed: 0, transforms: 0, passThrough: 0, fetches: 0, singleFlightShared: 0 };
  const rejections: Record<string, number> = {};
  const forget = (key: string): void => {
    const e = index.get(key);
    if (!e) return;
    totalSize -= e.size;
    index.delete(key);
  };
  return {
    c,
    rejections,
    stored(key: string, size: number): void {
      forget(key);
      index.set(key, { size, at: Date.now() });
      totalSize += size;
      if (index.size > MAX_INDEX) forget(index.keys().next().value!);
    },
    forget,
    reject(err: unknown): void {
      // Bounded: the reason is an error code from src/errors.ts, or "internal".
      const reason = isHeadroomError(err) ? err.code.replace(/^HEADROOM_(IMAGE_)?/, '').toLowerCase() : 'internal';
      rejections[reason] = (rejections[reason] ?? 0) + 1;
    },
    summary() {
      let oldest: number | null = null;
      let newest: number | null = null;
      for (const e of index.values()) {
        if (oldest === null || e.at < oldest) oldest = e.at;
        if (newest === null || e.at > newest) newest = e.at;
      }
      return { totalImages: index.size, totalSize, oldestCache: oldest, newestCache: newest };
    },
    clear(): void {
      index.clear();
      totalSize = 0;
    },
  };
}
export type ImageCounters = ReturnType<typeof createImageCounters>;
