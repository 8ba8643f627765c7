// The image service for a process that may never serve an image (the gateway): its options are
// checked at once, and the pipeline (origin policy, fetch, stages, variants: some twenty modules,
// ~1.4 MiB of an idle gateway's RSS) loads with the first request. Until then its stats are
// those of a service that has done nothing. One difference from createImageService: a second
// service in the process with other sharp settings (sharp-settings.ts) is refused on its first
// request instead of at construction.
import { HeadroomError } from '../errors.js';
import { resolveImageOptions } from './options.js';
import { idleQueue, stageSizes } from './stage-sizes.js';
import { createImageCounters } from './stats.js';
import type { ImageService, ImageServiceOptions, ImageStats } from './types.js';

export function createLazyImageService(options: ImageServiceOptions): ImageService {
  const o = resolveImageOptions(options);
  let loading: Promise<ImageService> | undefined;
  let service: ImageService | undefined;
  let closed: Promise<void> | undefined;

  const draining = (): HeadroomError => new HeadroomError('HEADROOM_DRAINING', 'the image service is closed');
  /** The loaded service, for a request; refused once close() was called, even mid-load. */
  async function ready(): Promise<ImageService> {
    if (closed) throw draining();
    // close() during the load waits for this promise and closes the new service.
    loading ??= import('./service.js').then(({ createImageService }) => (service = createImageService(options)));
    const s = await loading;
    if (closed) throw draining();
    return s;
  }

  function idleStats(): ImageStats {
    const counters = createImageCounters();
    const sizes = stageSizes(o);
    return {
      ...counters.summary(),
      ...counters.c,
      rejections: {},
      queue: idleQueue(sizes.queue),
      encoding: sizes.encoder ? idleQueue(sizes.encoder) : null,
    };
  }

  function close(): Promise<void> {
    closed ??= (async () => {
      // A failed load left nothing to close.
      const s = await loading?.catch(() => undefined);
      await s?.close();
    })();
    return closed;
  }

  return {
    handle: async (req) => (await ready()).handle(req),
    meta: async (query, signal) => (await ready()).meta(query, signal),
    stats: () => service?.stats() ?? idleStats(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
