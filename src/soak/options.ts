// The options of runSoak: defaults, bounds, and one check that names every bad value.
import { DEFAULT_SCENARIO, parseScenario, type ScenarioRequest } from './scenario.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from './verdict.js';
import type { SoakProgress } from './run.js';

export interface SoakOptions {
  /** The command that starts the service, e.g. ['node', 'server.js']. It gets a free port in $PORT unless `url` is given. */
  command: readonly string[];
  /** Where load goes; default http://127.0.0.1:$PORT. Only loopback hosts are accepted. */
  url?: string;
  /** Requests to send (validated like a scenario file); default GET /. */
  requests?: readonly Partial<ScenarioRequest>[];
  /** Total time budget, ms (default 180 000); a clear verdict may come earlier. */
  durationMs?: number;
  /** Excluded from the verdict, ms (default: a sixth of the budget, at most 30 s). */
  warmupMs?: number;
  /** Concurrent connections (default 8). */
  connections?: number;
  /** Requests per second over all connections; 0 (default) = as fast as the service answers. */
  rate?: number;
  /** Time between post-GC samples, ms (default: budget / 120, from 500 ms to 5 s). */
  sampleIntervalMs?: number;
  thresholds?: Partial<Thresholds>;
  /** How long the service may take to listen, ms (default 30 000). */
  startTimeoutMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  onProgress?: (p: SoakProgress) => void;
  signal?: AbortSignal;
}

export interface ResolvedOptions extends Omit<SoakOptions, 'requests' | 'thresholds'> {
  requests: ScenarioRequest[];
  durationMs: number;
  warmupMs: number;
  connections: number;
  rate: number;
  sampleIntervalMs: number;
  thresholds: Thresholds;
  startTimeoutMs: number;
}

export const LIMITS = {
  durationMs: { min: 5_000, max: 7 * 24 * 3_600_000 },
  connections: { min: 1, max: 1024 },
  rate: { min: 0, max: 1_000_000 },
  sampleIntervalMs: { min: 100, max: 600_000 },
  startTimeoutMs: { min: 100, max: 600_000 },
} as const;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function resolveOptions(o: SoakOptions): ResolvedOptions {
  const problems: string[] = [];
  const num = (name: keyof typeof LIMITS, value: number | undefined, fallback: number, integer = true): number => {
    if (value === undefined) return fallback;
    const { min, max } = LIMITS[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value)))
      problems.push(`${name}: ${String(value)} is not ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    return value;
  };
  if (!Array.isArray(o.command) || o.command.length === 0 || o.command.some((a) => typeof a !== 'string'))
    problems.push('command: must be a non-empty array of strings, e.g. ["node", "server.js"]');
  const durationMs = num('durationMs', o.durationMs, 180_000);
  const warmupMs = o.warmupMs ?? Math.min(30_000, Math.round(durationMs / 6));
  if (typeof warmupMs !== 'number' || !Number.isInteger(warmupMs) || warmupMs < 0 || warmupMs > durationMs / 2)
    problems.push(`warmupMs: ${String(warmupMs)} must be an integer from 0 to half the duration (${durationMs / 2} ms)`);
  const connections = num('connections', o.connections, 8);
  const rate = num('rate', o.rate, 0, false);
  const sampleIntervalMs = num('sampleIntervalMs', o.sampleIntervalMs, Math.min(5_000, Math.max(500, Math.round(durationMs / 120))));
  const startTimeoutMs = num('startTimeoutMs', o.startTimeoutMs, 30_000);
  if (o.url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.url);
    } catch {
      problems.push(`url: "${o.url}" is not a URL`);
    }
    if (u && u.protocol !== 'http:') problems.push(`url: ${o.url}: only http: is supported`);
    if (u && !LOOPBACK.has(u.hostname)) problems.push(`url: ${o.url}: load only goes to this machine (127.0.0.1, localhost, [::1])`);
  }
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...o.thresholds };
  if (!(thresholds.bytesPerRequest > 0)) problems.push(`thresholds.bytesPerRequest: must be above 0`);
  if (!(thresholds.minGrowthBytes >= 0)) problems.push(`thresholds.minGrowthBytes: must be 0 or more`);
  if (!(thresholds.noLeakBytes >= 0 && thresholds.noLeakBytes <= thresholds.minGrowthBytes))
    problems.push(`thresholds.noLeakBytes: must be from 0 to minGrowthBytes`);
  if (!(thresholds.confidence > 0.5 && thresholds.confidence < 1)) problems.push(`thresholds.confidence: must be between 0.5 and 1`);
  if (!(Number.isInteger(thresholds.minSamples) && thresholds.minSamples >= 4))
    problems.push(`thresholds.minSamples: must be an integer ≥ 4`);
  let requests: ScenarioRequest[] = [...DEFAULT_SCENARIO];
  if (o.requests !== undefined) {
    try {
      requests = parseScenario(o.requests);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length === 0 && (durationMs - warmupMs) / sampleIntervalMs < 2 * thresholds.minSamples)
    problems.push(
      `durationMs: ${durationMs} ms minus ${warmupMs} ms of warm-up leaves room for ${Math.floor((durationMs - warmupMs) / sampleIntervalMs)} samples every ${sampleIntervalMs} ms; the verdict needs ${2 * thresholds.minSamples}`,
    );
  if (problems.length > 0) throw new RangeError(`soak options:\n  ${problems.join('\n  ')}`);
  return { ...o, requests, durationMs, warmupMs, connections, rate, sampleIntervalMs, thresholds, startTimeoutMs };
}
