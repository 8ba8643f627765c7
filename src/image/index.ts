// headroom-memory/image: an SSRF-safe, memory-bounded image proxy (fetch, size-tiered cache, sharp).
export { createImageService } from './service.js';
export { isBlockedAddress } from './address.js';
export { sniff, type SourceFormat } from './sniff.js';
export type { ImageMeta, ImageRequest, ImageResponse, ImageService, ImageServiceOptions, ImageStats } from './types.js';
export type { LookupFunction } from './guarded-agent.js';
export type { OriginMaxAgeMode } from './http-headers.js';
export { registerImageMetrics } from '../metrics/image.js';
export * from '../errors-entry.js';
