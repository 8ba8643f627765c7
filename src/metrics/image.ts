// headroom_image_* metrics, read from image.stats() at scrape time (once per scrape). Labels are
// bounded: result (hit/miss/not_modified) and reason (an error code of src/errors.ts).
import type { Registry } from 'prom-client';
import type { ImageService } from '../image/types.js';
import { byLabel, checkMetricsArgs, partMetrics } from './define.js';

export function registerImageMetrics(registry: Registry, image: Pick<ImageService, 'stats'>): void {
  checkMetricsArgs('registerImageMetrics(registry, image)', registry, {
    name: 'image',
    value: image,
    methods: ['stats'],
    from: 'an image service from createImageService()',
  });
  const m = partMetrics(registry, () => image.stats());

  m.labelled(
    'counter',
    'headroom_image_requests_total',
    'Image requests answered from cache (hit), after a fetch or transform (miss), or with 304 (not_modified).',
    ['result'],
    (s) => [
      [{ result: 'hit' }, s.hits],
      [{ result: 'miss' }, s.misses],
      [{ result: 'not_modified' }, s.notModified],
    ],
  );
  m.labelled(
    'counter',
    'headroom_image_rejections_total',
    'Image requests refused, by reason (error code without the HEADROOM_IMAGE_ prefix).',
    ['reason'],
    (s) => byLabel('reason', s.rejections),
  );
  // Counters republish the service's own cumulative totals.
  m.counter('headroom_image_served_bytes_total', 'Image body bytes sent to clients.', (s) => s.bytesServed);
  m.counter('headroom_image_transforms_total', 'sharp transforms run.', (s) => s.transforms);
  m.counter('headroom_image_fetches_total', 'Source fetches from image origins.', (s) => s.fetches);
  m.counter('headroom_image_passthrough_total', 'Large originals streamed through uncached.', (s) => s.passThrough);
  m.gauge('headroom_image_cached_images', 'Images and variants this instance stored in the cache (bounded index).', (s) => s.totalImages);
  m.gauge('headroom_image_cached_bytes', 'Bytes of images and variants this instance stored in the cache.', (s) => s.totalSize);
  m.gauge('headroom_image_transforms_active', 'Transforms running in a transform slot now (IMAGE_CONCURRENCY).', (s) => s.queue.active);
  m.gauge('headroom_image_transforms_lent', 'Small transforms running whole in an idle encoder now.', (s) => s.queue.lent);
  m.gauge('headroom_image_transforms_queued', 'Transforms waiting for a slot.', (s) => s.queue.queued);
  m.gauge(
    'headroom_image_transform_reserved_bytes',
    'Estimated decode bytes of the running transforms (in slots and in encoders).',
    (s) => s.queue.reservedBytes,
  );
  m.gauge(
    'headroom_image_transform_waiting_bytes',
    'Bytes of buffered sources held by transforms waiting for a slot (counted against IMAGE_MEMORY_BUDGET with the reserved bytes).',
    (s) => s.queue.waitingBytes,
  );
  m.gauge(
    'headroom_image_encodes_active',
    'Encoder slots in use (IMAGE_ENCODE_CONCURRENCY): encodes of small outputs, and lent transforms.',
    (s) => s.encoding?.active ?? 0,
  );
  m.gauge(
    'headroom_image_encodes_queued',
    'Decoded outputs waiting for an encoder (beyond IMAGE_ENCODE_CONCURRENCY of them, each holds its transform slot).',
    (s) => s.encoding?.queued ?? 0,
  );
}
