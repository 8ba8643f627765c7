// The image service's view of the cache: keys derived from the source URL, and reads and writes
// that never fail a request (caching is an optimisation).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Cache } from '../cache/types.js';
import type { ImageParams } from './params.js';
import type { ImageCounters } from './stats.js';
import type { OutputFormat } from './transform.js';
import type { ImageMeta } from './types.js';

export interface Keys {
  id: string;
  src: string;
  meta: string;
  tags: string[];
}

export const hash = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 32);

export const keysFor = (url: string): Keys => {
  const id = hash(url);
  return { id, src: `image:src:${id}`, meta: `image:meta:${id}`, tags: ['image', `image:${id}`] };
};

/** A variant's key: source URL, resize parameters, quality (`defaultQuality` when not asked) and format. */
export const variantKey = (url: string, p: ImageParams, defaultQuality: number, format: OutputFormat): string =>
  `image:var:${hash(`${url}\n${p.w ?? ''}x${p.h ?? ''}:${p.fit ?? ''}:${p.q ?? defaultQuality}:${format}`)}`;

export interface ImageStore {
  get<T>(key: string): Promise<T | undefined>;
  /** Stores `value` for `maxAge` seconds; a stored Buffer is counted in the stats' index. */
  set(key: string, value: Buffer | ImageMeta, maxAge: number, tags: string[]): Promise<void>;
}

export function createImageStore(cache: Cache, counters: ImageCounters, logger?: Logger): ImageStore {
  return {
    async get<T>(key: string): Promise<T | undefined> {
      try {
        return await cache.get<T>(key);
      } catch (err) {
        logger?.warn({ err, key }, 'image cache read failed');
        return undefined;
      }
    },
    async set(key, value, maxAge, tags) {
      try {
        // Our buffers are never modified after this, so the cache may keep them without a copy.
        await cache.set(key, value, { ttl: maxAge * 1000, tags, transfer: true });
        if (Buffer.isBuffer(value)) counters.stored(key, value.length);
      } catch (err) {
        logger?.warn({ err, key }, 'image cache write failed');
      }
    },
  };
}
