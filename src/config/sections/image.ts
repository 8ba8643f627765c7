// Options of the image proxy (src/image).
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseOriginRule } from '../../image/origin-policy.js';
import { bool, bytes, duration, list, num, oneOf, type Option } from '../options.js';

/**
 * A list of image origins, checked by the same parser the origin policy uses (so whatever starts
 * up is also what the policy understands). Each bad entry is its own problem, naming just that
 * entry and what is accepted.
 */
function origins(c: { env: string; doc: string; itemText: string }): Option<string[]> {
  const base = list({ ...c, default: [] });
  const schema = z.unknown().transform((raw, ctx): string[] => {
    const parsed = base.schema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
      return z.NEVER;
    }
    const problems = parsed.data.map(parseOriginRule).filter((r): r is string => typeof r === 'string');
    for (const problem of problems) ctx.addIssue({ code: 'custom', message: `entry ${problem}` });
    return problems.length ? z.NEVER : parsed.data;
  }) as unknown as z.ZodType<string[]>;
  return { ...base, schema };
}

export const imageOptions = {
  allowedOrigins: origins({
    env: 'IMAGE_ALLOWED_ORIGINS',
    doc: 'Origins images may be fetched from: exact scheme://host[:port] entries or *.example.com patterns. Empty allows none (the demo origin is added automatically in demo mode).',
    itemText: 'origins such as https://img.example.com or *.example.com',
  }),
  allowPrivateOrigins: origins({
    env: 'IMAGE_ALLOW_PRIVATE_ORIGINS',
    doc: 'Origins (same syntax) that may resolve to private or loopback addresses while IMAGE_ALLOW_PRIVATE_NETWORKS stays false, e.g. an internal image service. Demo mode adds the demo origin.',
    itemText: 'origins such as http://images.internal:8080',
  }),
  allowPrivateNetworks: bool({ env: 'IMAGE_ALLOW_PRIVATE_NETWORKS', doc: 'Allow fetching from private, loopback and link-local addresses (local development only).', default: false }),
  maxRedirects: num({ env: 'IMAGE_MAX_REDIRECTS', doc: 'Redirects followed per image; each target is re-checked.', default: 3, min: 0, max: 10, integer: true }),
  maxSourceBytes: bytes({ env: 'IMAGE_MAX_SOURCE_BYTES', doc: 'Largest source image downloaded (enforced while reading, 413).', default: 50 * 1024 ** 2, min: 1024, max: 1024 ** 3 }),
  timeout: duration({ env: 'IMAGE_TIMEOUT', doc: 'Download timeout for a source image (504).', default: 15_000, min: 100, max: 600_000 }),
  allowSvg: bool({ env: 'IMAGE_ALLOW_SVG', doc: 'Serve SVG (with a script-blocking CSP); off by default.', default: false }),
  maxInputPixels: num({ env: 'IMAGE_MAX_INPUT_PIXELS', doc: 'Largest source image in pixels that will be decoded.', default: 50_000_000, min: 1, max: 2 ** 32, integer: true }),
  maxOutputDimension: num({ env: 'IMAGE_MAX_OUTPUT_DIMENSION', doc: 'Largest width or height a request may ask for (400 beyond).', default: 4096, min: 16, max: 16_384, integer: true }),
  maxCacheSize: bytes({ env: 'IMAGE_MAX_CACHE_SIZE', doc: 'Images up to this size are cached as raw bytes; larger ones stream through.', default: 5 * 1024 ** 2, min: 0, max: 1024 ** 3 }),
  concurrency: num({
    env: 'IMAGE_CONCURRENCY',
    doc: 'Transform slots: sharp transforms (decode and resize; also the encode of outputs over 2 MP) run at once in them. Every decode, in a slot or not, is admitted against IMAGE_MEMORY_BUDGET and the RSS headroom. Sources over IMAGE_MAX_CACHE_SIZE and decodes estimated over 64 MiB are only ever transformed in a slot; a waiting transform of a smaller source with a small output may also run in an idle encoder (IMAGE_ENCODE_CONCURRENCY).',
    default: Math.max(1, Math.floor(availableParallelism() / 2)),
    defaultText: 'half the CPU cores, at least 1',
    min: 1,
    max: 256,
    integer: true,
  }),
  encodeConcurrency: num({
    env: 'IMAGE_ENCODE_CONCURRENCY',
    doc: 'Encodes of small WebP, AVIF and JPEG outputs (up to 2 MP) that run beside the IMAGE_CONCURRENCY transforms. A transform decodes and resizes in its slot, then hands the pixels to an encoder (up to this many may wait for one without holding a slot), so the next decode starts while this output encodes: memory stays bounded by the decodes plus at most 2 × this many outputs of ≤ 8 MiB, and one transform slot can keep two cores busy. An encoder with nothing to encode runs the next waiting transform of a source up to IMAGE_MAX_CACHE_SIZE (decode estimated at ≤ 64 MiB) whole, so a core does not idle while transforms wait for a slot; at most IMAGE_CONCURRENCY + this many sharp pipelines run at once. 0 encodes inside the slot and lends nothing (CPU and decodes bounded by IMAGE_CONCURRENCY alone).',
    default: availableParallelism(),
    defaultText: 'the CPU cores',
    min: 0,
    max: 256,
    integer: true,
  }),
  queueSize: num({ env: 'IMAGE_QUEUE_SIZE', doc: 'Transforms that may wait for a slot; more get 503.', default: 64, min: 0, max: 100_000, integer: true }),
  queueTimeout: duration({ env: 'IMAGE_QUEUE_TIMEOUT', doc: 'Longest wait for a transform slot before 503.', default: 10_000, min: 1, max: 600_000 }),
  defaultQuality: num({ env: 'IMAGE_DEFAULT_QUALITY', doc: 'Output quality when q is not given.', default: 80, min: 1, max: 100, integer: true }),
  cacheTtl: duration({ env: 'IMAGE_CACHE_TTL', doc: 'How long fetched and transformed images stay cached, and the max-age sent to clients.', default: 86_400_000, min: 1000, max: 365 * 24 * 3_600_000 }),
  originMaxAge: oneOf({
    env: 'IMAGE_ORIGIN_MAX_AGE',
    doc: "How the origin's Cache-Control max-age bounds IMAGE_CACHE_TTL: ceiling (never keep longer than the origin allows; no-store/private count as 0), floor (keep at least as long as the origin says), or ignore.",
    default: 'ceiling',
    values: ['ceiling', 'floor', 'ignore'] as const,
  }),
  memoryBudget: bytes({ env: 'IMAGE_MEMORY_BUDGET', doc: 'Estimated decode memory (width × height × 4 + source bytes) of all running transforms; a transform that does not fit waits, or gets 503 when nothing runs. With a monitor RSS limit, current headroom is checked too.', default: 1024 ** 3, min: 16 * 1024 ** 2, max: 64 * 1024 ** 3 }),
  keepMetadata: bool({ env: 'IMAGE_KEEP_METADATA', doc: 'Keep EXIF/ICC/XMP metadata in transformed outputs (stripped by default; orientation is always applied).', default: false }),
  sharpCacheMemory: bytes({ env: 'IMAGE_SHARP_CACHE_MEMORY', doc: "libvips' process-wide operation cache. 0 (default) disables it: outputs are cached by headroom, and libvips' cache would hold decoded pixels outside every byte budget.", default: 0, min: 0, max: 4 * 1024 ** 3 }),
  sharpConcurrency: num({ env: 'IMAGE_SHARP_THREADS', doc: "libvips threads per transform (process-wide). 0 keeps sharp's default: 1 on glibc Linux without jemalloc (less malloc fragmentation), one per core elsewhere. More threads do not speed up JPEG → WebP resizes (decode and encode are serial); IMAGE_CONCURRENCY × threads should not exceed the cores by much.", default: 0, min: 0, max: 256, integer: true }),
} as const;
