// The image service's options, in one place: default, bound, unit and doc line of each. The
// factory validates its arguments with these, and the gateway's IMAGE_* configuration is built
// from the very same objects (src/config/sections/image.ts), so the two cannot drift.
import { availableParallelism } from 'node:os';
import {
  bool,
  bytes,
  duration,
  formatBytes,
  list,
  num,
  oneOf,
  optionalBytes,
  optionsPlace,
  Refused,
  resolveOptions,
  type OptionSpec,
} from '../options/spec.js';
import { HeadroomError } from '../errors.js';
import { originListProblem } from './origin-policy.js';
import type { ImageServiceOptions } from './types.js';

/** A list of origins, each entry checked by the parser the origin policy uses; every bad entry is named by itself. */
function origins(c: { env: string; doc: string; itemText: string }): OptionSpec<string[]> {
  const base = list({ ...c, default: [] });
  return {
    ...base,
    parse(raw) {
      const entries = base.parse(raw);
      if (entries === undefined || entries instanceof Refused) return entries;
      const problem = originListProblem(entries);
      return problem ? new Refused(problem) : entries;
    },
  };
}

// The defaults that depend on the machine; derived here only (the docs show the rule, not the number).
const cores = availableParallelism();

/** memoryBudget when not given and no memory limit is known. */
export const DEFAULT_IMAGE_MEMORY_BUDGET = 1024 ** 3;
/** The smallest memoryBudget (given or sized). */
const MIN_IMAGE_MEMORY_BUDGET = 16 * 1024 ** 2;
/** With a memory limit known, memoryBudget when not given is at most this share of it. */
const IMAGE_SHARE_OF_LIMIT = 4;

/**
 * memoryBudget when not given: 1 GiB, or a quarter of the memory limit (the monitor's: its RSS
 * limit or the container's) when that is smaller, never below 16 MiB. With the cache's default L1
 * (an eighth, up to 64 MiB) the two bounded budgets stay within half the limit; the other half is
 * the process itself (a 256 MiB pod gets 64 MiB, where 1 GiB of decodes could never fit).
 */
export function defaultImageMemoryBudget(memoryLimit: number | null | undefined): number {
  if (!memoryLimit || !Number.isFinite(memoryLimit)) return DEFAULT_IMAGE_MEMORY_BUDGET;
  return Math.max(MIN_IMAGE_MEMORY_BUDGET, Math.min(DEFAULT_IMAGE_MEMORY_BUDGET, Math.floor(memoryLimit / IMAGE_SHARE_OF_LIMIT)));
}

export const imageSpecs = {
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
  allowPrivateNetworks: bool({
    env: 'IMAGE_ALLOW_PRIVATE_NETWORKS',
    doc: 'Allow fetching from private, loopback and link-local addresses (local development only).',
    default: false,
  }),
  maxRedirects: num({
    env: 'IMAGE_MAX_REDIRECTS',
    doc: 'Redirects followed per image; each target is re-checked.',
    default: 3,
    min: 0,
    max: 10,
    integer: true,
  }),
  maxSourceBytes: bytes({
    env: 'IMAGE_MAX_SOURCE_BYTES',
    doc: 'Largest source image downloaded (enforced while reading, 413).',
    default: 50 * 1024 ** 2,
    min: 1024,
    max: 1024 ** 3,
  }),
  timeout: duration({
    env: 'IMAGE_TIMEOUT',
    doc: 'Download timeout for a source image (504): the origin must deliver it within this time, counted only while waiting for the origin.',
    default: 15_000,
    min: 100,
    max: 600_000,
  }),
  allowSvg: bool({ env: 'IMAGE_ALLOW_SVG', doc: 'Serve SVG (with a script-blocking CSP); off by default.', default: false }),
  maxInputPixels: num({
    env: 'IMAGE_MAX_INPUT_PIXELS',
    doc: 'Largest source image in pixels that will be decoded.',
    default: 50_000_000,
    min: 1,
    max: 2 ** 32,
    integer: true,
  }),
  maxOutputDimension: num({
    env: 'IMAGE_MAX_OUTPUT_DIMENSION',
    doc: 'Largest width or height a request may ask for (400 beyond), and of every transformed output (one asked without w or h is shrunk to fit; WebP stops at 16383).',
    default: 4096,
    min: 16,
    max: 16_384,
    integer: true,
  }),
  maxCacheSize: bytes({
    env: 'IMAGE_MAX_CACHE_SIZE',
    doc: 'Images up to this size are cached as raw bytes; larger ones stream through.',
    default: 5 * 1024 ** 2,
    min: 0,
    max: 1024 ** 3,
  }),
  concurrency: num({
    env: 'IMAGE_CONCURRENCY',
    doc: 'Transform slots: sharp transforms (decode and resize; also the encode of outputs over 2 MP) run at once in them. Every decode, in a slot or not, is admitted against IMAGE_MEMORY_BUDGET and the RSS headroom. Sources over IMAGE_MAX_CACHE_SIZE and decodes estimated over 64 MiB are only ever transformed in a slot; a waiting transform of a smaller source with a small output may also run in an idle encoder (IMAGE_ENCODE_CONCURRENCY).',
    default: Math.max(1, Math.floor(cores / 2)),
    defaultText: 'half the CPU cores, at least 1',
    min: 1,
    max: 256,
    integer: true,
  }),
  encodeConcurrency: num({
    env: 'IMAGE_ENCODE_CONCURRENCY',
    doc: 'Encodes of small WebP, AVIF and JPEG outputs (up to 2 MP) that run beside the IMAGE_CONCURRENCY transforms. A transform decodes and resizes in its slot, then hands the pixels to an encoder (up to this many may wait for one without holding a slot), so the next decode starts while this output encodes: memory stays bounded by the decodes plus at most 2 × this many outputs of ≤ 8 MiB, and one transform slot can keep two cores busy. An encoder with nothing to encode runs the next waiting transform of a source up to IMAGE_MAX_CACHE_SIZE (decode estimated at ≤ 64 MiB) whole, so a core does not idle while transforms wait for a slot; at most IMAGE_CONCURRENCY + this many sharp pipelines run at once. 0 encodes inside the slot and lends nothing (CPU and decodes bounded by IMAGE_CONCURRENCY alone).',
    default: cores,
    defaultText: 'the CPU cores',
    min: 0,
    max: 256,
    integer: true,
  }),
  queueSize: num({
    env: 'IMAGE_QUEUE_SIZE',
    doc: 'Transforms that may wait for a slot; more get 503.',
    default: 64,
    min: 0,
    max: 100_000,
    integer: true,
  }),
  queueTimeout: duration({
    env: 'IMAGE_QUEUE_TIMEOUT',
    doc: 'Longest wait for a transform slot before 503.',
    default: 10_000,
    min: 1,
    max: 600_000,
  }),
  transformTimeout: duration({
    env: 'IMAGE_TRANSFORM_TIMEOUT',
    doc: 'Longest one sharp pipeline (a decode and resize, or an encode) may run; a longer one is stopped, its slot freed, and the request answered 504 HEADROOM_IMAGE_TRANSFORM_TIMEOUT (a large AVIF or a huge noisy source would otherwise hold a slot for minutes). Whole seconds (rounded up).',
    default: 30_000,
    min: 1000,
    max: 3_600_000,
  }),
  defaultQuality: num({
    env: 'IMAGE_DEFAULT_QUALITY',
    doc: 'Output quality when q is not given.',
    default: 80,
    min: 1,
    max: 100,
    integer: true,
  }),
  cacheTtl: duration({
    env: 'IMAGE_CACHE_TTL',
    doc: 'How long fetched and transformed images stay cached, and the max-age sent to clients.',
    default: 86_400_000,
    min: 1000,
    max: 365 * 24 * 3_600_000,
  }),
  originMaxAge: oneOf({
    env: 'IMAGE_ORIGIN_MAX_AGE',
    doc: "How the origin's Cache-Control max-age bounds IMAGE_CACHE_TTL: ceiling (never keep longer than the origin allows; no-store/private count as 0), floor (keep at least as long as the origin says), or ignore.",
    default: 'ceiling',
    values: ['ceiling', 'floor', 'ignore'] as const,
  }),
  memoryBudget: optionalBytes({
    env: 'IMAGE_MEMORY_BUDGET',
    doc: "Estimated decode memory (width × height × 4 + source bytes) of all running transforms, plus the buffered sources of those waiting for a slot; a transform that does not fit waits, or gets 503 when nothing runs (one that would wait holding a source past the budget gets 503 at once). With a monitor RSS limit, current headroom is checked too. When not given and the monitor knows a limit (MEMORY_RSS_LIMIT or the container's), a quarter of that limit if it is less than 1 GiB, at least 16 MiB (a 256 MiB pod gets 64 MiB).",
    default: undefined,
    defaultText: `${formatBytes(DEFAULT_IMAGE_MEMORY_BUDGET)}, or a quarter of the memory limit if smaller`,
    min: MIN_IMAGE_MEMORY_BUDGET,
    max: 64 * 1024 ** 3,
  }),
  keepMetadata: bool({
    env: 'IMAGE_KEEP_METADATA',
    doc: 'Keep EXIF/ICC/XMP metadata in transformed outputs (stripped by default; orientation is always applied).',
    default: false,
  }),
  sharpCacheMemory: bytes({
    env: 'IMAGE_SHARP_CACHE_MEMORY',
    doc: "libvips' process-wide operation cache. 0 (default) disables it: outputs are cached by headroom, and libvips' cache would hold decoded pixels outside every byte budget.",
    default: 0,
    min: 0,
    max: 4 * 1024 ** 3,
  }),
  sharpConcurrency: num({
    env: 'IMAGE_SHARP_THREADS',
    doc: "libvips threads per transform (process-wide). 0 keeps sharp's default: 1 on glibc Linux without jemalloc (less malloc fragmentation), one per core elsewhere. More threads do not speed up JPEG → WebP resizes (decode and encode are serial); IMAGE_CONCURRENCY × threads should not exceed the cores by much.",
    default: 0,
    min: 0,
    max: 256,
    integer: true,
  }),
};

/**
 * Library options whose gateway value comes from another variable: the longest a client may take
 * none of an image before its connection is cut (a passed-through original: its origin fetch and
 * admission slot let go; a buffered answer: its Buffer). The gateway passes CLIENT_READ_TIMEOUT.
 */
export const imageLibrarySpecs = {
  clientReadTimeout: duration({
    doc: "Longest a client may take none of an image (a slow reader's socket drains only in steps: see CLIENT_READ_TIMEOUT).",
    default: 60_000,
    min: 100,
    max: 3_600_000,
  }),
};

const FACTORY = 'createImageService';

// The objects handed in: checked for the methods the service calls, not passed through blindly.
const SHAPES: Record<string, { required?: boolean; methods: string[]; accepted: string }> = {
  cache: {
    required: true,
    methods: ['get', 'set'],
    accepted: 'must be a cache (an object with get() and set(), e.g. createCache() from headroom-memory/cache)',
  },
  monitor: { methods: ['status'], accepted: 'must be a memory monitor (an object with status(), e.g. createMemoryMonitor())' },
  admission: { methods: ['acquire'], accepted: 'must be an admission controller (an object with acquire(), e.g. createAdmission())' },
  logger: { methods: ['warn'], accepted: 'must be a logger (an object with warn(), e.g. pino())' },
};

const kind = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'object'
        ? 'an object'
        : typeof v === 'string'
          ? JSON.stringify(v)
          : typeof v === 'function'
            ? 'a function'
            : String(v);

/** The options besides the specs: the objects above and a DNS lookup (tests, custom resolvers). */
const OBJECT_KEYS = [...Object.keys(SHAPES), 'lookup'];

function shapeProblems(given: Record<string, unknown>, prefix: string, supplied: readonly string[]): string[] {
  const problems: string[] = [];
  for (const [key, shape] of Object.entries(SHAPES)) {
    if (supplied.includes(key)) continue;
    const v = given[key];
    if (v === undefined && !shape.required) continue;
    const ok = typeof v === 'object' && v !== null && shape.methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function');
    if (!ok) problems.push(`${prefix}${key}=${kind(v)}: ${shape.accepted}`);
  }
  const { monitor, lookup } = given as { monitor?: { current?: unknown }; lookup?: unknown };
  if (monitor?.current !== undefined && typeof monitor.current !== 'function')
    problems.push(`${prefix}monitor.current=${kind(monitor.current)}: must be a function when given`);
  if (lookup !== undefined && typeof lookup !== 'function')
    problems.push(`${prefix}lookup=${kind(lookup)}: must be a dns.lookup-style function`);
  return problems;
}

/**
 * The factory's options with every default filled in; throws one HEADROOM_CONFIG_INVALID naming
 * each bad option. `supplied`: parts the caller will add itself (a route factory checking the
 * user's options before it has a cache), not required here.
 */
export function resolveImageOptions(given: ImageServiceOptions, supplied: readonly string[] = []) {
  const at = optionsPlace(FACTORY, given);
  const shapes =
    typeof given === 'object' && given !== null ? shapeProblems(given as unknown as Record<string, unknown>, at.prefix, supplied) : [];
  let o;
  try {
    o = resolveOptions(FACTORY, { ...imageSpecs, ...imageLibrarySpecs }, given, OBJECT_KEYS);
  } catch (err) {
    // One error for every bad option: the values' problems, then the objects'.
    if (shapes.length === 0 || !(err instanceof HeadroomError)) throw err;
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${err.message}; ${shapes.join('; ')}`);
  }
  if (shapes.length > 0) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${at.factory}: ${shapes.join('; ')}`);
  const memoryLimit = (given.monitor as { current?: () => { rssLimit?: number | null } | undefined } | undefined)?.current?.()?.rssLimit;
  return { ...o, memoryBudget: o.memoryBudget ?? defaultImageMemoryBudget(memoryLimit) };
}

export type ResolvedImageOptions = ReturnType<typeof resolveImageOptions>;
