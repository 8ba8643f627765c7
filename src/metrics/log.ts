// headroom_log_ship_* metrics, read at scrape time from shipper.stats() (once per scrape); the
// write path does no metric work. Labels are bounded: reason (DROP_REASONS), outcome
// (REQUEST_OUTCOMES), state (SINK_STATES).
import type { Registry } from 'prom-client';
import { DROP_REASONS, REQUEST_OUTCOMES, SINK_STATES, type LogShipper } from '../log/types.js';
import { partMetrics } from './define.js';

export function registerLogShipMetrics(registry: Registry, shipper: Pick<LogShipper, 'stats'>): void {
  const m = partMetrics(registry, () => shipper.stats());
  m.counter('headroom_log_ship_produced_total', 'Log lines written to the shipper.', (s) => s.produced);
  m.counter('headroom_log_ship_sent_total', 'Log lines the sink accepted.', (s) => s.sent);
  m.labelled(
    'counter',
    'headroom_log_ship_dropped_total',
    'Log lines dropped, by reason (cap, age, too_large, rejected, failed, close). produced = sent + dropped + pending.',
    ['reason'],
    (s) => DROP_REASONS.map((reason) => [{ reason }, s.dropped[reason]] as const),
  );
  m.gauge('headroom_log_ship_pending_lines', 'Log lines waiting: queued, in flight or waiting for a retry.', (s) => s.pendingEntries);
  m.gauge('headroom_log_ship_pending_bytes', 'Bytes counted against LOG_SHIP_MAX_BYTES now.', (s) => s.pendingBytes);
  m.gauge('headroom_log_ship_max_bytes', 'LOG_SHIP_MAX_BYTES.', (s) => s.maxBytes);
  m.labelled(
    'counter',
    'headroom_log_ship_requests_total',
    'Requests to the sink by outcome (ok, partial, rejected, error, timeout, refused).',
    ['outcome'],
    (s) => REQUEST_OUTCOMES.map((outcome) => [{ outcome }, s.requests[outcome]] as const),
  );
  m.labelled(
    'gauge',
    'headroom_log_ship_sink_state',
    'State of the sink: 1 for the current one (up, retrying, down = breaker open, probing, closed).',
    ['state'],
    (s) => SINK_STATES.map((state) => [{ state }, s.sinkState === state ? 1 : 0] as const),
  );
}
