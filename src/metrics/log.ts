// headroom_log_ship_* metrics, read at scrape time from shipper.stats() (once per scrape); the
// write path does no metric work. Labels are bounded: reason (DROP_REASONS), outcome
// (REQUEST_OUTCOMES), state (SINK_STATES). The spill families have a sample only while the stats
// carry a spill (a spill directory is set; a guarded transport reports it once the worker has).
import type { Metric, Registry } from 'prom-client';
import { DROP_REASONS, REQUEST_OUTCOMES, SINK_STATES, type LogShipper, type LogShipStats, type SpillStats } from '../log/types.js';
import { checkMetricsArgs, oncePerScrape, partMetrics } from './define.js';

/**
 * The spill families, with one sample while the stats carry a spill and none otherwise (a
 * prom-client Gauge or Counter without labels always prints one, 0 then).
 */
function registerSpillMetrics(registry: Registry, read: () => LogShipStats): void {
  const one = (type: 'gauge' | 'counter', name: string, help: string, value: (s: SpillStats) => number): void => {
    const values = (): { labels: Record<string, string>; value: number }[] => {
      const spill = read().spill;
      return spill ? [{ labels: {}, value: value(spill) }] : [];
    };
    const collector = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() }),
      reset() {},
    };
    registry.registerMetric(collector as unknown as Metric);
  };
  one(
    'gauge',
    'headroom_log_ship_spill_lines',
    'Log lines in the disk spill file now (they are in headroom_log_ship_pending_lines too).',
    (s) => s.entries,
  );
  one(
    'gauge',
    'headroom_log_ship_spill_bytes',
    'Bytes in the disk spill file not yet read back (on disk, not in headroom_log_ship_pending_bytes).',
    (s) => s.bytes,
  );
  one('gauge', 'headroom_log_ship_spill_max_bytes', 'LOG_SHIP_SPILL_MAX_BYTES.', (s) => s.maxBytes);
  one(
    'counter',
    'headroom_log_ship_spilled_total',
    'Log lines written to the disk spill because the memory cap was full.',
    (s) => s.spilled,
  );
  one('counter', 'headroom_log_ship_spill_read_total', 'Log lines read back from the disk spill into memory.', (s) => s.readBack);
  one(
    'counter',
    'headroom_log_ship_spill_refused_total',
    'Log lines the disk spill did not take (file full or write failed); they met the memory drop policy.',
    (s) => s.refused,
  );
}

export function registerLogShipMetrics(registry: Registry, shipper: Pick<LogShipper, 'stats'>): void {
  checkMetricsArgs('registerLogShipMetrics(registry, shipper)', registry, {
    name: 'shipper',
    value: shipper,
    methods: ['stats'],
    from: 'a log shipper from createLogShipper()',
  });
  const read = oncePerScrape(() => shipper.stats());
  const m = partMetrics(registry, read);
  m.counter('headroom_log_ship_produced_total', 'Log lines written to the shipper.', (s) => s.produced);
  m.counter('headroom_log_ship_sent_total', 'Log lines the sink accepted.', (s) => s.sent);
  m.labelled(
    'counter',
    'headroom_log_ship_dropped_total',
    'Log lines dropped, by reason (cap, age, too_large, rejected, failed, close, spill_corrupt). produced = sent + dropped + pending.',
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
  registerSpillMetrics(registry, read);
}

/** headroom serve's stdout: the log lines it dropped while its reader did not keep up. */
export function registerLogOutputMetrics(registry: Registry, output: { dropped(): { lines: number } }): void {
  const m = partMetrics(registry, () => output.dropped());
  m.counter(
    'headroom_log_stdout_dropped_lines_total',
    'Log lines headroom serve dropped because stdout was not read (16 MiB of lines waiting); a warn line tells each loss once stdout is read again.',
    (s) => s.lines,
  );
}
