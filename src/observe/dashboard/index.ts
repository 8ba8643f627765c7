// createDashboard: the live page (GET /dashboard and its files), the feed behind the admin token
// (GET <admin>/dashboard/feed, one stream per viewer) and the monitor's history
// (GET <admin>/memory-history). Framework-neutral: the gateway and the toolkit's admin dispatcher
// answer with its PlainResponses, so every adapter serves the same page.
import { HeadroomError } from '../../errors.js';
import type { PlainResponse } from '../../toolkit/response.js';
import { createAssets, SECURITY_HEADERS, type AssetRequest } from './assets.js';
import { createLiveFeed, type LiveFeedStats } from './feed.js';
import { buildFrame } from './frame.js';
import { memoryHistory, parseSince } from './history.js';
import { resolveDashboardOptions } from './options.js';
import type { DashboardOptions, LiveBody, MemoryHistory } from './types.js';

export type { DashboardFrame, DashboardLogger, DashboardOptions, LiveBody, MemoryHistory } from './types.js';
export type { LiveFeedStats } from './feed.js';
export { dashboardSpecs } from './options.js';
export { CONTENT_SECURITY_POLICY } from './assets.js';

/** What a request for the page, its files or the feed gets while DASHBOARD_ENABLED=false. */
export const dashboardOff = (): HeadroomError =>
  new HeadroomError('HEADROOM_NOT_FOUND', 'the dashboard is turned off (DASHBOARD_ENABLED=false)');

export interface Dashboard {
  readonly enabled: boolean;
  /** The page (name '') or one of its files; undefined when there is no such file or the dashboard is off. */
  asset(name: string, request: AssetRequest): PlainResponse | undefined;
  /** The monitor's history as columns; `since` (epoch ms) from the query, checked. */
  history(query?: URLSearchParams): MemoryHistory;
  /** A new viewer's live feed (NDJSON, one frame per interval); HEADROOM_DASHBOARD_FULL beyond maxViewers. */
  feed(): PlainResponse & { live: LiveBody };
  stats(): LiveFeedStats;
  /** Ends the open feeds (the app is draining); new ones are still accepted until close(). */
  endViewers(): void;
  /** Ends every feed and stops its timer. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const API_BASE = /^(\.\/|([A-Za-z0-9._~-]+\/)+|(\.\.\/)+([A-Za-z0-9._~-]+\/)*)$/;

export function createDashboard(options: DashboardOptions): Dashboard {
  const o = resolveDashboardOptions(options);
  const { monitor, cache, proxy, image } = o;
  if (!monitor || typeof monitor.current !== 'function' || typeof monitor.history !== 'function') {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      'createDashboard: monitor is required: must be a memory monitor (createMemoryMonitor())',
    );
  }
  const apiBase = o.apiBase ?? './';
  if (typeof apiBase !== 'string' || !API_BASE.test(apiBase)) {
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `createDashboard: apiBase=${JSON.stringify(apiBase)}: must be a relative path ending in / (e.g. "./" or "admin/")`,
    );
  }
  const assets = createAssets(apiBase);
  const feed = createLiveFeed({
    maxViewers: o.maxViewers,
    interval: o.interval,
    stallTimeout: o.stallTimeout,
    viewTimeout: o.viewTimeout,
    frame: () => JSON.stringify(buildFrame({ monitor, cache, proxy, image })),
    onFrameError: (err) => {
      const what = 'dashboard: a live-feed frame could not be built (a source threw); frames are skipped until one builds again';
      if (o.logger) o.logger.warn({ err }, what);
      else process.emitWarning(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    },
  });
  const feedHeaders = {
    ...SECURITY_HEADERS,
    'content-type': 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
    // Proxies in front (nginx) must pass frames on as they come.
    'x-accel-buffering': 'no',
  };
  const close = (): Promise<void> => feed.close();
  return {
    enabled: o.enabled,
    asset: (name, request) => (o.enabled ? assets.respond(name, request) : undefined),
    history: (query) => memoryHistory(monitor, query ? parseSince(query) : undefined),
    feed() {
      if (!o.enabled) throw dashboardOff();
      return { status: 200, headers: feedHeaders, body: '', live: feed.open() };
    },
    stats: () => feed.stats(),
    endViewers: () => feed.endAll(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
