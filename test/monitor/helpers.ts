// A controllable sampler: tests set heap used / rss and the monitor sees exactly that.
import type { Sampler } from '../../src/monitor/types.js';

export interface FakeMemory {
  sampler: Sampler;
  heapLimit: number;
  heapUsed: number;
  heapTotal: number;
  rss: number;
  /** Sets heap used to this fraction of the heap limit. */
  setHeapRatio(r: number): void;
}

export function fakeMemory(heapLimit = 1000 * 1024 * 1024): FakeMemory {
  const m: FakeMemory = {
    heapLimit,
    heapUsed: 0,
    heapTotal: 0,
    rss: 50 * 1024 * 1024,
    setHeapRatio(r) {
      m.heapUsed = Math.round(r * m.heapLimit);
      // heapTotal tracks used closely, as in a real process: used/total would look critical.
      m.heapTotal = Math.round(m.heapUsed * 1.05) + 1;
    },
    sampler: () => ({
      process: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: 0, arrayBuffers: 0 },
      v8: {
        heapSizeLimit: m.heapLimit,
        usedHeapSize: m.heapUsed,
        totalHeapSize: m.heapTotal,
        heapUsedPercent: -1, // the monitor must compute this itself
        mallocedMemory: 0,
        externalMemory: 0,
        numberOfDetachedContexts: 0,
        numberOfNativeContexts: 1,
      },
    }),
  };
  m.setHeapRatio(0.1);
  return m;
}
