// headroom-memory/streams: small stream and batch utilities with bounded memory, built on
// node:stream/promises and async iteration. See docs/streams.md.
export { streamCopyFile, type StreamCopyOptions } from './copy.js';
export { processBatch, chunkArray, type ProcessBatchOptions, type Source } from './batch.js';
export { createObjectPool, type ObjectPool, type ObjectPoolOptions } from './pool.js';
