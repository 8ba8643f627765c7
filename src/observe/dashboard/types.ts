// Public types of the dashboard: the live frame (one JSON line of the feed), the history body and
// the options of createDashboard.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Cache } from '../../cache/types.js';
import type { ImageService } from '../../image/types.js';
import type { MemoryMonitor, MemoryStatus } from '../../monitor/types.js';
import type { Proxy } from '../../proxy/proxy.js';

/** One frame of the live feed: what the page draws each second. Bytes, milliseconds, percents 0–100. */
export interface DashboardFrame {
  /** Epoch milliseconds. */
  t: number;
  status: MemoryStatus;
  heap: { used: number; total: number; limit: number; percent: number };
  rss: { bytes: number; limit: number | null; percent: number | null };
  thresholds: { warningPercent: number; criticalPercent: number };
  /** Heap after the latest GC, its least-squares trend, and when the limit is reached at that rate (null: not growing or unknown). */
  postGc: { heap: number | null; bytesPerHour: number | null; secondsToLimit: number | null };
  eventLoop: { delayP99: number; utilizationPercent: number };
  /** GC pauses since start, every kind together (the page charts the differences between frames); null unless MEMORY_GC_PAUSES. */
  gc: { count: number; pauseMs: number; maxPauseMs: number } | null;
  cache: {
    bytes: number;
    maxBytes: number;
    hits: number;
    misses: number;
    hitRatio: number;
    l2: { kind: 'disk' | 'redis'; state: 'up' | 'down' | 'breaker-open' } | null;
  } | null;
  proxy: { inFlight: number; queued: number; shed: number; requests: number; latencyP50: number; latencyP99: number } | null;
  image: { active: number; queued: number; queueSize: number } | null;
}

/** GET /admin/memory-history: the monitor's samples as columns (oldest first), ready for a chart. */
export interface MemoryHistory {
  count: number;
  heapLimit: number;
  rssLimit: number | null;
  thresholds: { warningPercent: number; criticalPercent: number };
  series: {
    timestamp: number[];
    status: MemoryStatus[];
    heapUsed: number[];
    heapTotal: number[];
    rss: number[];
    external: number[];
    arrayBuffers: number[];
    eventLoopDelayP99: number[];
    eventLoopUtilization: number[];
  };
}

/** A body written as it happens (the live feed), for as long as the viewer stays. */
export interface LiveBody {
  /** Writes to a Node response (headers already set) until the viewer leaves or the feed closes. */
  pipe(res: ServerResponse): void;
  /** The same as a Web stream (Next.js route handlers). */
  web(): ReadableStream<Uint8Array>;
  /** Gives the viewer's slot back without writing (a HEAD request, a response that failed before it started). */
  cancel(): void;
}

/** What the dashboard logs through: a pino logger, or anything with warn(). */
export type DashboardLogger = Pick<Logger, 'warn'>;

/**
 * Options of createDashboard. The numbers are the gateway variables named in their comments, with
 * the same defaults and bounds (`dashboardSpecs`; docs/configuration.md, "Dashboard").
 */
export interface DashboardOptions {
  monitor: MemoryMonitor;
  cache?: Cache;
  proxy?: Proxy;
  image?: ImageService;
  /** DASHBOARD_ENABLED. */
  enabled?: boolean;
  /** DASHBOARD_MAX_VIEWERS. */
  maxViewers?: number;
  /** DASHBOARD_INTERVAL, milliseconds. */
  interval?: number;
  /** DASHBOARD_STALL_TIMEOUT, milliseconds. */
  stallTimeout?: number;
  /** DASHBOARD_VIEW_TIMEOUT, milliseconds. */
  viewTimeout?: number;
  /**
   * Where the admin API is, relative to the page (the page at /dashboard with the API at /admin:
   * "admin/"; the page at /admin/dashboard: "./", the default).
   */
  apiBase?: string;
  /**
   * Where a frame of the live feed that could not be built (a source's stats() threw) is logged,
   * once per run of failures; unset: a process warning. The frame is skipped, the feed goes on.
   */
  logger?: DashboardLogger;
}
