// The real sampler: process.memoryUsage(), v8 heap statistics and heap spaces.
import v8 from 'node:v8';
import type { HeapSpace, Sampler } from './types.js';

export const realSampler: Sampler = () => {
  const mu = process.memoryUsage();
  const hs = v8.getHeapStatistics();
  const heapSpaces: HeapSpace[] = v8.getHeapSpaceStatistics().map((s) => ({
    name: s.space_name,
    size: s.space_size,
    used: s.space_used_size,
    available: s.space_available_size,
  }));
  return {
    process: { rss: mu.rss, heapUsed: mu.heapUsed, heapTotal: mu.heapTotal, external: mu.external, arrayBuffers: mu.arrayBuffers },
    v8: {
      heapSizeLimit: hs.heap_size_limit,
      usedHeapSize: hs.used_heap_size,
      totalHeapSize: hs.total_heap_size,
      heapUsedPercent: (hs.used_heap_size / hs.heap_size_limit) * 100,
      mallocedMemory: hs.malloced_memory,
      externalMemory: hs.external_memory,
      numberOfDetachedContexts: hs.number_of_detached_contexts,
      numberOfNativeContexts: hs.number_of_native_contexts,
    },
    heapSpaces,
  };
};
