// headroom_alerts_* metrics, read at scrape time from alerter.stats() (once per scrape). Labels
// are bounded: reason (ALERT_DROP_REASONS), alert (ALERT_NAMES).
import type { Registry } from 'prom-client';
import { ALERT_DROP_REASONS, ALERT_NAMES, type Alerter } from '../observe/alerts/types.js';
import { checkMetricsArgs, partMetrics } from './define.js';

export function registerAlertMetrics(registry: Registry, alerter: Pick<Alerter, 'stats'>): void {
  checkMetricsArgs('registerAlertMetrics(registry, alerter)', registry, {
    name: 'alerter',
    value: alerter,
    methods: ['stats'],
    from: 'an alerter from createAlerter()',
  });
  const m = partMetrics(registry, () => alerter.stats());
  m.counter(
    'headroom_alerts_sent_total',
    'Alert notifications a webhook accepted (each webhook counts once per notification).',
    (s) => s.sent,
  );
  m.counter(
    'headroom_alerts_failed_total',
    'Alert notifications given up: refused with a 4xx, or still failing after ALERT_RETRIES retries.',
    (s) => s.failed,
  );
  m.labelled(
    'counter',
    'headroom_alerts_dropped_total',
    'Alert notifications dropped unsent, by reason (queue_full: ALERT_QUEUE_SIZE or ALERT_QUEUE_BYTES reached; close: still queued at shutdown).',
    ['reason'],
    (s) => ALERT_DROP_REASONS.map((reason) => [{ reason }, s.dropped[reason]] as const),
  );
  m.counter('headroom_alerts_attempts_total', 'Requests made to alert webhooks, retries included.', (s) => s.attempts);
  m.gauge('headroom_alerts_pending', 'Alert notifications waiting or in flight, over all webhooks.', (s) => s.pending);
  m.gauge(
    'headroom_alerts_retrying',
    'Alert notifications waiting for a retry after a failed attempt: a webhook failing now.',
    (s) => s.retrying,
  );
  m.gauge(
    'headroom_alerts_readings_failing',
    'Alert readings failing now (a callback or the monitor throws): the alerts they decide are not checked until they work again.',
    (s) => s.readingsFailing,
  );
  m.labelled('gauge', 'headroom_alerts_firing', 'Alerts firing now (1) or not (0), by alert name.', ['alert'], (s) =>
    ALERT_NAMES.map((alert) => [{ alert }, s.firing[alert]] as const),
  );
}
