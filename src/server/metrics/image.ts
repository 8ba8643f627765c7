// headroom_image_* metrics, read from image.stats() at scrape time. Labels are bounded: result
// (hit/miss/not_modified) and reason (an error code of src/errors.ts).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ImageService } from '../../image/types.js';

export function registerImageMetrics(registry: Registry, image: Pick<ImageService, 'stats'>): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers, collect() { this.set(read()); } });
  };
  // Counters republish the service's own cumulative totals.
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  };

  new Counter({
    name: 'headroom_image_requests_total',
    help: 'Image requests answered from cache (hit), after a fetch or transform (miss), or with 304 (not_modified).',
    labelNames: ['result'],
    registers,
    collect() {
      const s = image.stats();
      this.reset();
      this.inc({ result: 'hit' }, s.hits);
      this.inc({ result: 'miss' }, s.misses);
      this.inc({ result: 'not_modified' }, s.notModified);
    },
  });
  new Counter({
    name: 'headroom_image_rejections_total',
    help: 'Image requests refused, by reason (error code without the HEADROOM_IMAGE_ prefix).',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(image.stats().rejections)) this.inc({ reason }, n);
    },
  });
  counter('headroom_image_served_bytes_total', 'Image body bytes sent to clients.', () => image.stats().bytesServed);
  counter('headroom_image_transforms_total', 'sharp transforms run.', () => image.stats().transforms);
  counter('headroom_image_fetches_total', 'Source fetches from image origins.', () => image.stats().fetches);
  counter('headroom_image_passthrough_total', 'Large originals streamed through uncached.', () => image.stats().passThrough);
  gauge('headroom_image_cached_images', 'Images and variants this instance stored in the cache (bounded index).', () => image.stats().totalImages);
  gauge('headroom_image_cached_bytes', 'Bytes of images and variants this instance stored in the cache.', () => image.stats().totalSize);
  gauge('headroom_image_transforms_active', 'Transforms running in a transform slot now (IMAGE_CONCURRENCY).', () => image.stats().queue.active);
  gauge('headroom_image_transforms_lent', 'Small transforms running whole in an idle encoder now.', () => image.stats().queue.lent);
  gauge('headroom_image_transforms_queued', 'Transforms waiting for a slot.', () => image.stats().queue.queued);
  gauge('headroom_image_transform_reserved_bytes', 'Estimated decode bytes of the running transforms (in slots and in encoders).', () => image.stats().queue.reservedBytes);
  gauge('headroom_image_encodes_active', 'Encoder slots in use (IMAGE_ENCODE_CONCURRENCY): encodes of small outputs, and lent transforms.', () => image.stats().encoding?.active ?? 0);
  gauge('headroom_image_encodes_queued', 'Decoded outputs waiting for an encoder (beyond IMAGE_ENCODE_CONCURRENCY of them, each holds its transform slot).', () => image.stats().encoding?.queued ?? 0);
}
