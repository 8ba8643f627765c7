// headroom_dashboard_* metrics, read at scrape time from the live dashboard's stats() (once per
// scrape): who holds the feed's viewer slots, and the frames viewers did not get.
import type { Registry } from 'prom-client';
import type { LiveFeedStats } from '../observe/dashboard/index.js';
import { checkMetricsArgs, partMetrics } from './define.js';

export function registerDashboardMetrics(registry: Registry, dashboard: { stats(): LiveFeedStats }): void {
  checkMetricsArgs('registerDashboardMetrics(registry, dashboard)', registry, {
    name: 'dashboard',
    value: dashboard,
    methods: ['stats'],
    from: "a Headroom's dashboard (headroom.dashboard)",
  });
  const m = partMetrics(registry, () => dashboard.stats());
  m.gauge('headroom_dashboard_viewers', 'Live dashboard feeds open now (DASHBOARD_MAX_VIEWERS at most; more get 503).', (s) => s.viewers);
  m.counter('headroom_dashboard_frames_sent_total', 'Dashboard frames written to a viewer.', (s) => s.sent);
  m.counter(
    'headroom_dashboard_frames_dropped_total',
    'Dashboard frames skipped for a viewer that had not read the previous ones.',
    (s) => s.dropped,
  );
  m.counter(
    'headroom_dashboard_frames_failed_total',
    'Dashboard frames not built because a source threw (skipped for every viewer).',
    (s) => s.failed,
  );
  m.counter(
    'headroom_dashboard_viewers_stalled_total',
    'Dashboard viewers disconnected after DASHBOARD_STALL_TIMEOUT without reading.',
    (s) => s.stalled,
  );
  m.counter(
    'headroom_dashboard_viewers_expired_total',
    'Dashboard feeds ended after DASHBOARD_VIEW_TIMEOUT (a page reconnects at once).',
    (s) => s.expired,
  );
}
