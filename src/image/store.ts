// The image service's view of the cache: keys derived from the source URL, and reads and writes
// that never fail a request (caching is an optimisation).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Cache } from '../cache/types.js';
import type { ResolvedImageOptions } from './options.js';
import type { ImageParams } from './params.js';
import type { ImageCounters } from './stats.js';
import type { OutputFormat } from './transform.js';
import type { ImageMeta } from './types.js';

export interface Keys {
  id: string;
  /** The policy fingerprint in every key (see policyFingerprint). */
  policy: string;
  src: string;
  meta: string;
  tags: string[];
}

export const hash = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 32);

/**
 * A short hash of the options that decide what may be served: SVG, and the origins (and private
 * addresses) images may come from. It is in every key, so an entry cached under other options
 * (a disk L2 outlives a restart) is never served under these.
 */
export const policyFingerprint = (
  o: Pick<ResolvedImageOptions, 'allowSvg' | 'allowedOrigins' | 'allowPrivateOrigins' | 'allowPrivateNetworks'>,
): string =>
  hash(JSON.stringify([o.allowSvg, [...o.allowedOrigins].sort(), [...o.allowPrivateOrigins].sort(), o.allowPrivateNetworks])).slice(0, 8);

export const keysFor = (url: string, policy: string): Keys => {
  const id = hash(url);
  // The tag names the URL alone, so invalidating it drops the image's entries under every policy.
  return { id, policy, src: `image:src:${policy}:${id}`, meta: `image:meta:${policy}:${id}`, tags: ['image', `image:${id}`] };
};

/** The options, besides the request's, that shape a variant's bytes. */
export type VariantKeyOptions = Pick<ResolvedImageOptions, 'defaultQuality' | 'keepMetadata' | 'maxOutputDimension'>;

/** A variant's key: source, resize parameters, quality (`defaultQuality` when not asked), format and the options that shape it. */
export const variantKey = (keys: Keys, p: ImageParams, format: OutputFormat, o: VariantKeyOptions): string =>
  `image:var:${keys.policy}:${hash(
    `${keys.id}\n${p.w ?? ''}x${p.h ?? ''}:${p.fit ?? ''}:${p.q ?? o.defaultQuality}:${format}:${o.maxOutputDimension}:${o.keepMetadata ? 'keep' : 'strip'}`,
  )}`;

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
