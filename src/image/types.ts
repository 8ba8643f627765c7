// Public types of the image service (headroom-memory/image).
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Cache } from '../cache/types.js';
import type { PressureSource } from '../monitor/types.js';
import type { Admission } from '../admission/index.js';
import type { LookupFunction } from './guarded-agent.js';
import type { OriginMaxAgeMode } from './http-headers.js';
import type { QueueStats } from './transform-queue.js';

/**
 * Options of createImageService. Every scalar option is the IMAGE_* variable of the same meaning,
 * with the same default and bounds (declared once in options.ts; see docs/configuration.md);
 * a bad value throws HEADROOM_CONFIG_INVALID naming the option.
 */
export interface ImageServiceOptions {
  cache: Cache;
  /** Origins allowed: exact scheme://host[:port] or *.example.com. Empty allows none. */
  allowedOrigins: string[];
  /** Allow private/loopback/link-local addresses for every origin (local development only). */
  allowPrivateNetworks?: boolean;
  /** Origins (same syntax) that may be on private addresses, e.g. the built-in demo origin. */
  allowPrivateOrigins?: string[];
  maxRedirects?: number;
  maxSourceBytes?: number;
  /** Whole-download timeout, ms (IMAGE_TIMEOUT). */
  timeout?: number;
  /** Longest a client may take none of an image before its connection is cut, ms (the gateway's CLIENT_READ_TIMEOUT; default 60 s). */
  clientReadTimeout?: number;
  allowSvg?: boolean;
  maxInputPixels?: number;
  maxOutputDimension?: number;
  /** Originals and variants up to this many bytes are cached; larger ones stream through. */
  maxCacheSize?: number;
  /**
   * Transform slots: transforms (decode, resize and, for large outputs, encode) running at once in
   * them. Small transforms may also run in an idle encoder (see encodeConcurrency).
   */
  concurrency?: number;
  /**
   * Encodes of small WebP/AVIF/JPEG outputs (≤ 2 MP) that may run beside the transforms: a transform decodes
   * and resizes in its slot, then hands the pixels to an encoder and frees the slot for the next
   * decode (up to this many outputs may wait for an encoder without a slot). An idle encoder runs
   * the next waiting transform of a source ≤ maxCacheSize with a small output and a decode
   * estimated at ≤ 64 MiB whole; that estimate is still admitted by the transform queue's memory
   * check. 0 encodes inside the slot
   * and lends nothing.
   */
  encodeConcurrency?: number;
  queueSize?: number;
  queueTimeout?: number;
  /** Longest one sharp pipeline (decode and resize, or encode) may run, ms (whole seconds); then 504 HEADROOM_IMAGE_TRANSFORM_TIMEOUT. */
  transformTimeout?: number;
  defaultQuality?: number;
  /** Cache TTL and client max-age, ms. */
  cacheTtl?: number;
  /** How the origin's max-age bounds ours: ignore it, use it as a floor, or as a ceiling. */
  originMaxAge?: OriginMaxAgeMode;
  /** Estimated decode bytes allowed in flight across transforms. */
  memoryBudget?: number;
  /** Keep EXIF/ICC/XMP in outputs (default: stripped). */
  keepMetadata?: boolean;
  /**
   * Bytes for libvips' process-wide operation cache; 0 turns it off: headroom caches
   * encoded outputs itself, and libvips' cache would hold decoded pixels no byte budget here sees.
   * Process-wide, like sharpConcurrency: the first open image service sets both; creating another
   * with different values while one is open throws HEADROOM_CONFIG_INVALID.
   */
  sharpCacheMemory?: number;
  /** libvips threads per transform (IMAGE_SHARP_THREADS; process-wide, see sharpCacheMemory); 0 leaves sharp's default (1 on glibc Linux without jemalloc, else one per core). */
  sharpConcurrency?: number;
  /** Memory monitor: status critical pauses transforms; current() gives RSS headroom. */
  monitor?: PressureSource;
  /** Shared admission control around origin fetches (the proxy's controller). */
  admission?: Admission;
  /** DNS resolver (dns.lookup with all: true); tests inject one. */
  lookup?: LookupFunction;
  logger?: Logger;
}

export interface ImageMeta {
  url: string;
  contentType: string;
  /** Source size in bytes (null when it streamed through without a Content-Length). */
  bytes: number | null;
  width: number | null;
  height: number | null;
  format: string;
  /** Frames (pages) counted; for a streamed source in a format that can animate, those in its first bytes only (see pagesExact). */
  pages: number;
  /** False when the source streamed through and may have frames beyond the bytes probed (a GIF, or an animated or multi-page WebP, AVIF or TIFF). */
  pagesExact: boolean;
  hasAlpha: boolean;
  /** Whether the original bytes are held in the cache. */
  cached: boolean;
  /**
   * Strong ETag of the original. Stored as null for buffered originals (hashed when served);
   * GET /image/meta fills it in from the cached bytes.
   */
  etag: string | null;
  /** Seconds. */
  maxAge: number;
  fetchedAt: number;
}

export interface ImageRequest {
  query: Record<string, unknown>;
  accept?: string;
  ifNoneMatch?: string;
  signal?: AbortSignal;
}

export interface ImageResponse {
  status: 200 | 304;
  headers: Record<string, string>;
  body?: Buffer | Readable;
}

export interface ImageStats {
  totalImages: number;
  totalSize: number;
  oldestCache: number | null;
  newestCache: number | null;
  hits: number;
  misses: number;
  notModified: number;
  bytesServed: number;
  transforms: number;
  passThrough: number;
  fetches: number;
  singleFlightShared: number;
  rejections: Record<string, number>;
  queue: QueueStats;
  /** The encode stage (null when IMAGE_ENCODE_CONCURRENCY=0). */
  encoding: QueueStats | null;
}

export interface ImageService {
  /**
   * clientReadTimeout, ms: the longest a client may leave an answer unread. The routes cut a
   * buffered answer's connection after that long without progress (the service cuts a stream).
   */
  readonly clientReadTimeout?: number;
  handle(req: ImageRequest): Promise<ImageResponse>;
  meta(query: Record<string, unknown>, signal?: AbortSignal): Promise<ImageMeta>;
  stats(): ImageStats;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
