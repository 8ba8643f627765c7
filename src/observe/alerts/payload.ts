// The body of one notification (the events of one check) in each format. Built once per
// notification and sent as the same bytes to every webhook (and signed as those bytes).
import { createHash } from 'node:crypto';
import type { AlertFormat } from './options.js';
import type { AlertEvent } from './types.js';

/** Alertmanager's "zero time": the endsAt of an alert that is still firing. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

export function renderPayload(format: AlertFormat, events: readonly AlertEvent[], instance: string): Buffer {
  const body =
    format === 'slack' ? slack(events, instance) : format === 'alertmanager' ? alertmanager(events, instance) : generic(events, instance);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

const groupStatus = (events: readonly AlertEvent[]): 'firing' | 'resolved' =>
  events.some((e) => e.status === 'firing') ? 'firing' : 'resolved';

function generic(events: readonly AlertEvent[], instance: string): object {
  return { version: 1, source: 'headroom', instance, status: groupStatus(events), alerts: events };
}

function slack(events: readonly AlertEvent[], instance: string): object {
  const lines = events.map((e) => {
    const mark =
      e.status === 'resolved'
        ? ':large_green_circle: *RESOLVED*'
        : e.severity === 'critical'
          ? ':red_circle: *FIRING*'
          : ':large_orange_circle: *FIRING*';
    const lasted = e.endsAt ? ` after ${lasting(Date.parse(e.endsAt) - Date.parse(e.startsAt))}` : '';
    return `${mark} \`${e.name}\` (${e.severity}) on ${instance}${lasted}: ${e.summary}`;
  });
  return { text: lines.join('\n') };
}

function lasting(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** https://prometheus.io/docs/alerting/latest/configuration/#webhook_config (version 4). */
function alertmanager(events: readonly AlertEvent[], instance: string): object {
  const alerts = events.map((e) => {
    const labels = { alertname: e.name, instance, service: 'headroom', severity: e.severity };
    return {
      status: e.status,
      labels,
      annotations: { summary: e.summary, value: e.value === null ? '' : String(e.value), threshold: String(e.threshold), unit: e.unit },
      startsAt: e.startsAt,
      endsAt: e.endsAt ?? ZERO_TIME,
      generatorURL: '',
      fingerprint: fingerprint(labels),
    };
  });
  const groupLabels = { instance };
  return {
    version: '4',
    groupKey: `{}:{instance=${JSON.stringify(instance)}}`,
    truncatedAlerts: 0,
    status: groupStatus(events),
    receiver: 'headroom',
    groupLabels,
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL: '',
    alerts,
  };
}

/** Labels (or annotations) every alert has with the same value. */
function common(sets: readonly Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = sets;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((s) => s[k] === v)));
}

/** 16 hex digits identifying the label set, as Alertmanager's fingerprints do (a hash, not its algorithm). */
function fingerprint(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u00ff${labels[k]}`)
    .join('\u00ff');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
