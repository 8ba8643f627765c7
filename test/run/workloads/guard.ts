// The guard the Buffer- and sharp-heavy workloads run with: headroom's memory monitor, measuring
// RSS against MEMORY_RSS_LIMIT (set by `headroom run`: the process's budget). Work is refused
// while the status is critical, as the gateway's admission control refuses requests; after a few
// refusals in a row the workload reports that it was shed and exits 0.
import { writeSync } from 'node:fs';
import { createMemoryMonitor } from '../../../src/monitor/index.js';

export function createGuard(): { admit(): boolean; shed(retained: number): never } {
  const limit = Number(process.env.MEMORY_RSS_LIMIT);
  const monitor = createMemoryMonitor({ rssLimit: Number.isFinite(limit) && limit > 0 ? limit : undefined, autoStart: false });
  return {
    admit: () => monitor.sampleNow().status !== 'critical',
    shed(retained: number): never {
      const { rss } = process.memoryUsage();
      writeSync(1, `shed retained ${retained} rss ${rss} limit ${monitor.thresholds().rssLimit}\n`);
      process.exit(0);
    },
  };
}
