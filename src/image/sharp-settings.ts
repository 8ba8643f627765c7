// sharp, loaded on first use, and its process-wide settings.
//
// sharp is a native module (libvips): loading it maps tens of MB and starts libvips' threads. Only
// an image transform or probe needs it, so nothing imports it statically: a cache-, monitor- or
// proxy-only user never loads it, and an image service loads it with its first image.
//
// libvips' operation cache and thread count are process-wide. The first open image service in a
// process sets them; while it is open, another service that asks for different values is refused
// (HEADROOM_CONFIG_INVALID) rather than silently changing the first one's. Once every service has
// closed, the next one sets its own. Settings claimed before sharp is loaded are applied when it is.
import type Sharp from 'sharp';
import { HeadroomError } from '../errors.js';

export type SharpModule = typeof Sharp;

export interface SharpSettings {
  /** Bytes for libvips' operation cache; 0 turns it off. */
  sharpCacheMemory: number;
  /** libvips threads per transform; 0 keeps sharp's default. */
  sharpConcurrency: number;
}

const NAMES = { sharpCacheMemory: "libvips' operation cache", sharpConcurrency: "libvips' thread count" } as const;

let inEffect: SharpSettings | undefined;
/** Whether inEffect still has to be applied to sharp (set while sharp is not loaded yet). */
let pending = false;
let holders = 0;
/** sharp's own thread count, read before headroom first changed it. */
let sharpDefaultThreads: number | undefined;

let loaded: SharpModule | undefined;
let loading: Promise<SharpModule> | undefined;

/**
 * Imports sharp, once per process (a failure is kept too: an install does not appear while the
 * process runs). The import is a literal so that bundlers (Next.js) see it and keep sharp external.
 */
function importSharp(): Promise<SharpModule> {
  return (loading ??= loadWith(() => import('sharp')).then((s) => {
    loaded = s;
    if (pending && inEffect) apply(inEffect);
    return s;
  }));
}

/** Loads sharp through `importer`, turning a failure into HEADROOM_IMAGE_SHARP_UNAVAILABLE (exported for tests). */
export async function loadWith(importer: () => Promise<unknown>): Promise<SharpModule> {
  try {
    // sharp is CommonJS: its function is the default export, in the ESM and the CommonJS build.
    return ((await importer()) as { default: SharpModule }).default;
  } catch (err) {
    throw new HeadroomError(
      'HEADROOM_IMAGE_SHARP_UNAVAILABLE',
      `image transforms need sharp, which cannot be loaded (${String((err as Error)?.message ?? err).split('\n')[0]}). ` +
        'It is a dependency of headroom-memory: reinstall with `npm install` on the machine that runs the app (not a node_modules ' +
        'copied from another OS or CPU), or `npm install sharp`; see https://sharp.pixelplumbing.com/install',
      { cause: err },
    );
  }
}

/** sharp, loaded on the first call; later calls resolve to the same module. */
export const loadSharp = (): Promise<SharpModule> => (loaded ? Promise.resolve(loaded) : importSharp());

function apply(s: SharpSettings): void {
  inEffect = { ...s };
  if (!loaded) {
    pending = true;
    return;
  }
  pending = false;
  const sharp = loaded;
  // Inputs are buffers, so libvips' open-file cache is not needed either.
  sharp.cache(s.sharpCacheMemory > 0 ? { memory: Math.max(1, Math.floor(s.sharpCacheMemory / 1024 ** 2)), files: 0, items: 100 } : false);
  if (s.sharpConcurrency > 0) {
    sharpDefaultThreads ??= sharp.concurrency();
    sharp.concurrency(s.sharpConcurrency);
  } else if (sharpDefaultThreads !== undefined) {
    sharp.concurrency(sharpDefaultThreads);
  }
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
