// A health indicator for @nestjs/terminus that answers from the monitor's latest sample: no
// sampling, no I/O, so it never times out however loaded the process is. Nothing is imported from
// terminus (an optional dependency): a failed check throws an error terminus recognises by its
// `isHealthCheckError` and `causes` fields (its own HealthCheckError has exactly these), which
// terminus 10 and 11 both report as `error`, and check() returns the result without throwing,
// shaped like HealthIndicatorService's up()/down().
import type { MemoryStatus } from '../../monitor/types.js';
import type { HeadroomService } from './service.js';

export interface HeadroomIndicatorOptions {
  /** The memory status from which the check is down (default 'critical'; 'warning' is stricter). */
  downFrom?: Exclude<MemoryStatus, 'healthy'>;
  /** Also down while the app drains for shutdown (use it for readiness checks; default false). */
  draining?: boolean;
}

export interface HeadroomIndicatorDetails {
  status: 'up' | 'down';
  memory: MemoryStatus;
  draining: boolean;
  /** Of the V8 heap limit, 0–100. */
  heapUsedPercent: number;
  heapUsed: number;
  heapLimit: number;
  rss: number;
  /** rss / the RSS (container) limit, 0–100; null without a limit. */
  rssPercent: number | null;
}

/** Assignable to terminus' HealthIndicatorResult. */
export type HeadroomIndicatorResult = Record<string, HeadroomIndicatorDetails>;

/** Thrown by isHealthy() when the check is down; terminus takes `causes` as the check's result. */
export class HeadroomHealthCheckError extends Error {
  readonly isHealthCheckError = true;
  constructor(
    message: string,
    readonly causes: HeadroomIndicatorResult,
  ) {
    super(message);
    this.name = 'HeadroomHealthCheckError';
  }
}

export class HeadroomHealthIndicator {
  constructor(private readonly headroom: HeadroomService) {}

  /** `health.check([() => indicator.isHealthy('memory')])`: the result when up, throws HeadroomHealthCheckError when down. */
  isHealthy(key = 'memory', options: HeadroomIndicatorOptions = {}): HeadroomIndicatorResult {
    const result = this.check(key, options);
    if (result[key]!.status === 'down') throw new HeadroomHealthCheckError(`${key}: memory is ${result[key]!.memory}`, result);
    return result;
  }

  /** The same result without throwing: `{ [key]: { status: 'up' | 'down', … } }`. */
  check(key = 'memory', options: HeadroomIndicatorOptions = {}): HeadroomIndicatorResult {
    const h = this.headroom.headroom;
    const s = h.monitor.current();
    const memory = h.monitor.status();
    const draining = h.isDraining();
    const down =
      memory === 'critical' || (options.downFrom === 'warning' && memory === 'warning') || (options.draining === true && draining);
    return {
      [key]: {
        status: down ? 'down' : 'up',
        memory,
        draining,
        heapUsedPercent: Math.round(s.v8.heapUsedPercent * 100) / 100,
        heapUsed: s.v8.usedHeapSize,
        heapLimit: s.v8.heapSizeLimit,
        rss: s.process.rss,
        rssPercent: s.rssPercent,
      },
    };
  }
}
