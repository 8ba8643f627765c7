// Defaults and bounds of MemoryMonitorOptions (the same as src/config/sections/monitor.ts, which
// the server validates; a library user gets a clear error here instead).
import { HeadroomError } from '../errors.js';
import type { MemoryMonitorOptions } from './types.js';
import { shareToFraction, toPercent } from '../options/units.js';

export const MONITOR_DEFAULTS = {
  warningThreshold: 0.75,
  criticalThreshold: 0.85,
  hysteresis: 0.05,
  sampleInterval: 250,
  historySize: 600,
  trendWindow: 3_600_000,
  trendWarmup: 60_000,
  logging: false,
  logInterval: 30_000,
  snapshotDir: './heap-snapshots',
  snapshotMaxBytes: 2 * 1024 ** 3,
  snapshotOnCritical: false,
  snapshotMinInterval: 3_600_000,
} as const;

export type ResolvedOptions = Omit<Required<MemoryMonitorOptions>, 'logger' | 'sampler' | 'rssLimit' | 'freeMemory'> &
  Pick<MemoryMonitorOptions, 'logger' | 'sampler' | 'rssLimit' | 'freeMemory'>;

function check(ok: boolean, name: string, value: unknown, accepted: string): void {
  if (!ok) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createMemoryMonitor: ${name}=${String(value)}: ${accepted}`);
}

const inRange = (n: unknown, min: number, max: number): boolean => typeof n === 'number' && Number.isFinite(n) && n >= min && n <= max;

export function resolveOptions(options: MemoryMonitorOptions): ResolvedOptions {
  const o = { ...MONITOR_DEFAULTS, autoStart: true, ...stripUndefined(options) } as ResolvedOptions;
  // rssLimit: undefined (derive from cgroup) must survive stripUndefined's absence.
  o.rssLimit = options.rssLimit;
  // Shares: a fraction up to 1 or a percent above (see units.ts); kept as fractions from here on.
  o.warningThreshold = share(o.warningThreshold, 'warningThreshold', 1);
  o.criticalThreshold = share(o.criticalThreshold, 'criticalThreshold', 1);
  o.hysteresis = share(o.hysteresis, 'hysteresis', 0.5);
  check(o.criticalThreshold > o.warningThreshold, 'criticalThreshold', options.criticalThreshold ?? o.criticalThreshold, `must be above warningThreshold (${toPercent(o.warningThreshold)}%)`);
  check(o.rssLimit == null || inRange(o.rssLimit, 1, 2 ** 53), 'rssLimit', o.rssLimit, 'must be a positive byte count, null or undefined');
  check(inRange(o.sampleInterval, 10, 3_600_000), 'sampleInterval', o.sampleInterval, 'must be between 10 and 3600000 ms');
  check(Number.isInteger(o.historySize) && inRange(o.historySize, 1, 1_000_000), 'historySize', o.historySize, 'must be an integer between 1 and 1000000');
  check(inRange(o.trendWindow, 1000, 30 * 86_400_000), 'trendWindow', o.trendWindow, 'must be between 1000 ms and 30 days');
  check(inRange(o.trendWarmup, 0, 30 * 86_400_000), 'trendWarmup', o.trendWarmup, 'must be between 0 and 30 days (ms)');
  check(inRange(o.logInterval, 0, 86_400_000), 'logInterval', o.logInterval, 'must be between 0 and 86400000 ms');
  check(inRange(o.snapshotMaxBytes, 0, 2 ** 53), 'snapshotMaxBytes', o.snapshotMaxBytes, 'must be a byte count');
  check(inRange(o.snapshotMinInterval, 0, 30 * 86_400_000), 'snapshotMinInterval', o.snapshotMinInterval, 'must be between 0 and 30 days (ms)');
  return o;
}

function share(value: unknown, name: string, max: number): number {
  const f = shareToFraction(value);
  check(f !== undefined && f <= max, name, value, `must be a fraction from 0 to ${max} or a percent up to ${max * 100} (a number up to 1 is a fraction)`);
  return f!;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
