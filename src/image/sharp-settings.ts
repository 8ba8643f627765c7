// libvips' operation cache and thread count are process-wide. The first open image service in a
// process sets them; while it is open, another service that asks for different values is refused
// (HEADROOM_CONFIG_INVALID) rather than silently changing the first one's. Once every service has
// closed, the next one sets its own.
import sharp from 'sharp';
import { HeadroomError } from '../errors.js';

export interface SharpSettings {
  /** Bytes for libvips' operation cache; 0 turns it off. */
  sharpCacheMemory: number;
  /** libvips threads per transform; 0 keeps sharp's default. */
  sharpConcurrency: number;
}

const NAMES = { sharpCacheMemory: "libvips' operation cache", sharpConcurrency: "libvips' thread count" } as const;

let inEffect: SharpSettings | undefined;
let holders = 0;
/** sharp's own thread count, read before headroom first changed it. */
let sharpDefaultThreads: number | undefined;

function apply(s: SharpSettings): void {
  // Inputs are buffers, so libvips' open-file cache is not needed either.
  sharp.cache(s.sharpCacheMemory > 0 ? { memory: Math.max(1, Math.floor(s.sharpCacheMemory / 1024 ** 2)), files: 0, items: 100 } : false);
  if (s.sharpConcurrency > 0) {
    sharpDefaultThreads ??= sharp.concurrency();
    sharp.concurrency(s.sharpConcurrency);
  } else if (sharpDefaultThreads !== undefined) {
    sharp.concurrency(sharpDefaultThreads);
  }
  inEffect = { ...s };
}

/**
 * Sets the process-wide sharp settings for a new image service, or checks them against those of
 * the services still open. Returns the release to call when the service has closed.
 */
export function claimSharpSettings(wanted: SharpSettings): () => void {
  const differing = (Object.keys(NAMES) as (keyof SharpSettings)[]).filter((k) => inEffect?.[k] !== wanted[k]);
  if (holders > 0 && inEffect && differing.length) {
    const k = differing[0]!;
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `createImageService: ${k}=${wanted[k]}: ${NAMES[k]} is process-wide and an image service still open in this process uses ${k}=${inEffect[k]}; give every image service in a process the same sharpCacheMemory and sharpConcurrency`,
    );
  }
  if (differing.length) apply(wanted);
  holders++;
  let released = false;
  return () => {
    if (!released) holders--;
    released = true;
  };
}
