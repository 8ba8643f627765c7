// Library defaults: the same values as the IMAGE_* configuration defaults, so a toolkit user gets
// the same bounded behaviour as the gateway. Names match config.image.* one to one, so the gateway
// can pass `...config.image`.
import { availableParallelism } from 'node:os';
import type { ImageServiceOptions } from './types.js';

export function resolveOptions(options: ImageServiceOptions) {
  return {
    ...options,
    allowPrivateNetworks: options.allowPrivateNetworks ?? false,
    allowPrivateOrigins: options.allowPrivateOrigins ?? [],
    maxRedirects: options.maxRedirects ?? 3,
    maxSourceBytes: options.maxSourceBytes ?? 50 * 1024 ** 2,
    timeout: options.timeout ?? 15_000,
    allowSvg: options.allowSvg ?? false,
    maxInputPixels: options.maxInputPixels ?? 50_000_000,
    maxOutputDimension: options.maxOutputDimension ?? 4096,
    maxCacheSize: options.maxCacheSize ?? 5 * 1024 ** 2,
    concurrency: options.concurrency ?? Math.max(1, Math.floor(availableParallelism() / 2)),
    encodeConcurrency: options.encodeConcurrency ?? availableParallelism(),
    queueSize: options.queueSize ?? 64,
    queueTimeout: options.queueTimeout ?? 10_000,
    defaultQuality: options.defaultQuality ?? 80,
    cacheTtl: options.cacheTtl ?? 86_400_000,
    originMaxAge: options.originMaxAge ?? 'ceiling',
    memoryBudget: options.memoryBudget ?? 1024 ** 3,
    keepMetadata: options.keepMetadata ?? false,
    sharpCacheMemory: options.sharpCacheMemory ?? 0,
  };
}
