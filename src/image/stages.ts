// The decode/encode stages in front of sharp. A transform decodes and resizes in one of
// `concurrency` slots (the memory-heavy half, admitted against the memory budget); a small
// WebP/AVIF/JPEG output is then handed to an encoder as raw pixels so the slot can take the next
// decode. An encoder with nothing to encode takes the next waiting small transform whole, so a
// core does not idle while transforms wait for the one decode slot.
import { HeadroomError, isHeadroomError } from '../errors.js';
import type { ResolvedImageOptions } from './options.js';
import type { OutputFormat } from './transform.js';
import {
  avifEffort,
  decodeResize,
  encodeRaw,
  outputPixelsBound,
  stageable,
  transform,
  type RawImage,
  type TransformSpec,
} from './transform.js';
import { createTransformQueue, lendWhileIdle, type QueueStats } from './transform-queue.js';
import { stageSizes } from './stage-sizes.js';
import { checkWebpSize, maxDimensionFor, type ImageParams } from './params.js';
import { isAnimated } from './formats.js';
import { decodeEstimate } from './probe.js';
import { freeCollected } from './read-source.js';
import { currentLedger } from '../log/accounting.js';
import type { Loaded, Streamed } from './source.js';
import type { ImageCounters } from './stats.js';

/** Outputs up to 2 MP (RGBA) are staged; larger ones transform whole inside their slot. */
const STAGED_MAX_RAW_BYTES = 8 * 1024 ** 2;
/**
 * Decodes estimated up to this (a ~15 MP photo) may be lent to an idle encoder; bigger ones wait
 * for a slot, so IMAGE_CONCURRENCY still bounds the decodes that weigh most.
 */
const LENT_MAX_DECODE_BYTES = 64 * 1024 ** 2;

type Options = Pick<
  ResolvedImageOptions,
  | 'concurrency'
  | 'encodeConcurrency'
  | 'queueSize'
  | 'queueTimeout'
  | 'memoryBudget'
  | 'monitor'
  | 'maxInputPixels'
  | 'maxSourceBytes'
  | 'defaultQuality'
  | 'keepMetadata'
  | 'maxOutputDimension'
  | 'transformTimeout'
>;

export interface Stages {
  /**
   * Transforms `src` (decode limits checked from its header first). A streamed source is read in
   * its slot with `collect` and disposed of once read. `signal` aborts the wait for a slot.
   */
  transform(src: Loaded, params: ImageParams, format: OutputFormat, signal: AbortSignal): Promise<Buffer>;
  stats(): { queue: QueueStats; encoding: QueueStats | null };
  /** Fails waiting transforms and refuses new ones; running ones finish. */
  close(): void;
}

export function createStages(o: Options, collect: (src: Streamed) => Promise<Buffer>, counters: ImageCounters): Stages {
  const { c } = counters;
  const critical = (): boolean => o.monitor?.status() === 'critical';
  const lendToEncoders = (): void => {
    if (encoder) lendWhileIdle(queue, encoder);
  };
  const sizes = stageSizes(o);
  const queue = createTransformQueue({
    ...sizes.queue,
    queueTimeout: o.queueTimeout,
    headroom: () => {
      const s = o.monitor?.current?.();
      return s?.rssLimit ? s.rssLimit - s.process.rss : undefined;
    },
    critical,
    onWait: lendToEncoders,
  });
  const encoder = sizes.encoder
    ? createTransformQueue({ ...sizes.encoder, queueTimeout: o.queueTimeout, critical, onIdle: lendToEncoders })
    : undefined;
  // sharp's timeout is whole seconds (IMAGE_TRANSFORM_TIMEOUT is at most an hour, sharp's limit).
  const timeoutSeconds = Math.ceil(o.transformTimeout / 1000);
  const failure = (err: unknown): Error => sharpFailure(err, o.maxInputPixels, timeoutSeconds);

  /**
   * Hands decoded pixels to an encoder; resolves once they are queued within the backlog or an
   * encoder has taken them (so the caller's transform slot can go to the next decode), with the
   * encode still to finish. Rejects when the encoder refuses them (critical memory, closing,
   * timeout) while the slot is held.
   */
  async function encodeAfter(raw: RawImage, spec: TransformSpec, signal: AbortSignal): Promise<{ encoded: Promise<Buffer> }> {
    let admit!: () => void;
    let started = false;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const backlogFull = encoder!.stats().queued >= sizes.encodeBacklog;
    // Pixels that wait for an encoder once the slot (and its reservation) went to the next decode
    // are still this request's: charged until an encoder takes them (its reservation covers them
    // then) or the encode fails without starting.
    const ledger = currentLedger();
    let waiting = 0;
    const taken = (): void => {
      started = true;
      if (waiting) ledger!.charge(-waiting);
      waiting = 0;
    };
    // Encoder working memory on top of the pixels: libwebp/libavif keep their own copy (+ YUV).
    const encoded = encoder!.run(
      raw.data.length * 2,
      () => {
        taken();
        admit();
        return encodeRaw(raw, spec);
      },
      signal,
    );
    // The caller awaits `encoded` once its slot is released; until then a rejection is not unhandled.
    encoded.then(taken, taken);
    if (backlogFull) await Promise.race([admitted, encoded]);
    if (ledger && !started) ledger.charge((waiting = raw.data.length));
    return { encoded };
  }

  /**
   * A staged transform of a small (buffered) source, run whole in an idle encoder's slot instead
   * of waiting for a transform slot; its decode estimate stays reserved in the transform queue.
   * Large (streamed) sources and decodes estimated over LENT_MAX_DECODE_BYTES always wait for a slot.
   */
  async function wholeInEncoder(input: Buffer, spec: TransformSpec): Promise<{ encoded: Promise<Buffer> }> {
    c.transforms++;
    try {
      return { encoded: Promise.resolve(await transform(input, spec)) };
    } catch (err) {
      throw failure(err);
    }
  }

  return {
    async transform(src, params, format, signal) {
      checkWebpSize(params, format);
      const m = src.meta;
      // A multi-page TIFF is transformed from its first page; animated images keep every frame.
      const animated = isAnimated(m);
      const pixels = (m.width ?? 0) * (m.height ?? 0) * (animated ? m.pages : 1);
      if (pixels > o.maxInputPixels) {
        throw new HeadroomError(
          'HEADROOM_IMAGE_TOO_MANY_PIXELS',
          `source is ${m.width}×${m.height}${animated ? `×${m.pages} frames` : ''}, more than IMAGE_MAX_INPUT_PIXELS (${o.maxInputPixels})`,
        );
      }
      // Unknown dimensions (header beyond what was read), or frames not all counted (a streamed
      // GIF): assume the worst the pixel limit allows (the decode itself is held to that limit).
      const estimate =
        m.width === null || (animated && !m.pagesExact)
          ? o.maxInputPixels * 4 + (m.bytes ?? o.maxSourceBytes)
          : decodeEstimate(pixels, m.bytes ?? o.maxSourceBytes);
      // A large source waits in the queue with its body paused (backpressure; undici's idle
      // timeout does not run while paused): the queue timeout bounds the wait, and the download
      // gets a fresh IMAGE_TIMEOUT once a slot is free.
      if (src.kind === 'stream') src.res.clearDeadline();
      const maxDimension = maxDimensionFor(format, o.maxOutputDimension);
      const outputPixels = Math.min(
        maxDimension ** 2,
        m.width === null || m.height === null ? Infinity : outputPixelsBound(m.width, m.height, params.w, params.h, params.fit),
      );
      const spec: TransformSpec = {
        w: params.w,
        h: params.h,
        fit: params.fit,
        quality: params.q ?? o.defaultQuality,
        format,
        animated,
        keepMetadata: o.keepMetadata,
        maxInputPixels: o.maxInputPixels,
        maxDimension,
        timeoutSeconds,
        avifEffort: avifEffort(outputPixels),
      };
      const staged = encoder !== undefined && stageable(spec) && outputPixels * 4 <= STAGED_MAX_RAW_BYTES;
      const result = await queue.run(
        estimate,
        async () => {
          const input = src.kind === 'buffer' ? src.bytes : await collect(src);
          if (src.kind === 'stream') src.dispose();
          c.transforms++;
          try {
            if (!staged) return { encoded: Promise.resolve(await transform(input, spec)) };
            return await encodeAfter(await decodeResize(input, spec), spec, signal);
          } catch (err) {
            throw failure(err);
          } finally {
            // A large source collected for this transform is freed now, not at the next GC
            // (cached small sources are not ours to free; freeCollected() leaves them alone).
            if (src.kind === 'stream') freeCollected(input);
          }
        },
        signal,
        staged && src.kind === 'buffer' && estimate <= LENT_MAX_DECODE_BYTES ? () => wholeInEncoder(src.bytes, spec) : undefined,
        // A buffered source is held while it waits (a streamed one waits paused, holding nothing).
        src.kind === 'buffer' ? Math.min(src.bytes.length, estimate) : 0,
      );
      return result.encoded.catch((err: unknown) => {
        throw failure(err);
      });
    },
    stats: () => ({ queue: queue.stats(), encoding: encoder?.stats() ?? null }),
    close() {
      queue.close();
      encoder?.close();
    },
  };
}

/** What a sharp failure means for the client: too many pixels (400), too slow (504) or an undecodable image. */
function sharpFailure(err: unknown, maxInputPixels: number, timeoutSeconds: number): Error {
  if (isHeadroomError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  // sharp's own words when its timeout stops libvips: "timeout: 12% complete".
  if (/^timeout: \d+% complete/.test(msg))
    return new HeadroomError(
      'HEADROOM_IMAGE_TRANSFORM_TIMEOUT',
      `the transform ran longer than IMAGE_TRANSFORM_TIMEOUT (${timeoutSeconds} s) and was stopped; ask for a smaller output or a faster format`,
      { cause: err },
    );
  if (/pixel limit/i.test(msg))
    return new HeadroomError('HEADROOM_IMAGE_TOO_MANY_PIXELS', `source exceeds IMAGE_MAX_INPUT_PIXELS (${maxInputPixels})`, { cause: err });
  return new HeadroomError('HEADROOM_IMAGE_UNSUPPORTED', 'the source image could not be decoded', { cause: err });
}
