// The GET /health body: numbers in bytes, shares as …Percent (0–100), `formatted` carries human strings.
import type { GcStats, HealthReport, LeakTrend, MemorySample, Thresholds } from './types.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? '-' : ''}${i === 0 ? v : v.toFixed(2)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [d && `${d}d`, (d || h) && `${h}h`, (d || h || m) && `${m}m`, `${s % 60}s`].filter(Boolean).join(' ');
}

const pct = (n: number): string => `${n.toFixed(1)}%`;

export function buildReport(sample: MemorySample, thresholds: Thresholds, gc: GcStats, trend: LeakTrend): HealthReport {
  const { v8, process: mem } = sample;
  const uptime = process.uptime();
  const formatted: Record<string, string> = {
    heapSizeLimit: formatBytes(v8.heapSizeLimit),
    usedHeapSize: formatBytes(v8.usedHeapSize),
    heapUsedPercent: pct(v8.heapUsedPercent),
    rss: formatBytes(mem.rss),
    heapUsed: formatBytes(mem.heapUsed),
    heapTotal: formatBytes(mem.heapTotal),
    external: formatBytes(mem.external),
    arrayBuffers: formatBytes(mem.arrayBuffers),
    warningThreshold: pct(thresholds.warningPercent),
    criticalThreshold: pct(thresholds.criticalPercent),
    uptime: formatDuration(uptime),
  };
  if (thresholds.rssLimit !== null) formatted.rssLimit = formatBytes(thresholds.rssLimit);
  if (sample.rssPercent !== null) formatted.rssPercent = pct(sample.rssPercent);
  if (gc.lastHeapAfterGc !== null) formatted.heapAfterGc = formatBytes(gc.lastHeapAfterGc);
  if (trend.bytesPerHour !== null) formatted.heapGrowth = `${formatBytes(trend.bytesPerHour)}/h`;
  return {
    status: sample.status,
    v8: {
      heapSizeLimit: v8.heapSizeLimit,
      usedHeapSize: v8.usedHeapSize,
      heapUsedPercent: Math.round(v8.heapUsedPercent * 100) / 100,
      numberOfDetachedContexts: v8.numberOfDetachedContexts,
      numberOfNativeContexts: v8.numberOfNativeContexts,
    },
    process: { ...mem },
    thresholds: { ...thresholds },
    eventLoop: { ...sample.eventLoop },
    gc: { ...gc, trend },
    uptime,
    timestamp: new Date(sample.timestamp).toISOString(),
    formatted,
  };
}
