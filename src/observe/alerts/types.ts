// Public types of the alerter: threshold alerts on the memory monitor's signals, delivered to
// webhooks (docs/alerts.md).
import type { Logger } from 'pino';
import type { MemoryMonitor } from '../../monitor/types.js';
import type { AlertFormat } from './options.js';

export type { AlertFormat } from './options.js';

/** Every alert the alerter knows; the `alert` label of headroom_alerts_firing takes these values only. */
export const ALERT_NAMES = [
  'memory_warning',
  'memory_critical',
  'heap_forecast',
  'event_loop_delay',
  'shedding',
  'l2_unavailable',
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

export type AlertSeverity = 'warning' | 'critical';

/** What an alert's value and threshold are measured in. */
export type AlertUnit = 'percent' | 'ms' | 'per_second' | 'bool';

/** One notification of one alert: it started firing, or its episode ended. */
export interface AlertEvent {
  name: AlertName;
  status: 'firing' | 'resolved';
  severity: AlertSeverity;
  /** One line for people, e.g. "heap reaches its limit in 38 min at the post-GC trend (+96 MiB/h)". */
  summary: string;
  /** The value that decided (at firing: the one that crossed; at resolving: the latest); null when unknown. */
  value: number | null;
  threshold: number;
  unit: AlertUnit;
  /** When the episode began (ISO 8601). */
  startsAt: string;
  /** When it ended (resolved only). */
  endsAt?: string;
}

/** What the alerter reads from the memory monitor (the real one, or anything with these methods). */
export type AlertMonitor = Pick<MemoryMonitor, 'onStatus' | 'status' | 'current' | 'history' | 'trend' | 'gc' | 'thresholds'>;

/**
 * Options of createAlerter. Each option with a variable is that ALERT_* variable, with the same
 * default and bounds (`alertSpecs`; docs/configuration.md, "Alerts").
 */
export interface AlerterOptions {
  /** ALERT_WEBHOOK_URL: one URL, or several (an array, or comma-separated). Required. */
  webhookUrls?: string | URL | (string | URL)[];
  /** ALERT_WEBHOOK_FORMAT: generic, slack or alertmanager. */
  format?: AlertFormat;
  /** ALERT_WEBHOOK_SECRET: signs every body (X-Headroom-Signature, X-Headroom-Timestamp). */
  hmacSecret?: string;
  /** ALERT_CHECK_INTERVAL: how often the thresholds are checked (status changes are seen at once). */
  checkInterval?: number | string;
  /** ALERT_RESOLVE_AFTER: how long a threshold must stay clear before its alert resolves. */
  resolveAfter?: number | string;
  /** ALERT_HEAP_FORECAST: fire when the post-GC trend reaches the heap limit within this; 0 = off. */
  heapForecast?: number | string;
  /** ALERT_EVENT_LOOP_P99: event-loop delay p99 bound; 0 = off. */
  eventLoopP99?: number | string;
  /** ALERT_SHED_RATE: shed or refused requests per second; 0 = off. */
  shedRate?: number;
  /** ALERT_TIMEOUT: longest time of one delivery attempt; also the bound of close(). */
  timeout?: number | string;
  /** ALERT_RETRIES: retries of a failed delivery. */
  retries?: number;
  /** ALERT_QUEUE_SIZE: notifications waiting per webhook. */
  queueSize?: number;
  /** ALERT_QUEUE_BYTES: bytes waiting per webhook. */
  queueBytes?: number | string;
  retryDelay?: number | string;
  maxRetryDelay?: number | string;
  /** Names this process in every notification (default: the host name). */
  instance?: string;
  /** The memory monitor whose status, trend and event-loop delay are watched. Required. */
  monitor?: AlertMonitor;
  /** Is the L2 cache (Redis or disk) usable now? null: there is no L2. Unset: no L2 alert. */
  l2Available?: () => boolean | null;
  /** Requests shed or refused so far (a cumulative count). Unset: no shedding alert. */
  shedCount?: () => number;
  /** Where failed deliveries are logged (warn). */
  logger?: Pick<Logger, 'warn' | 'info'>;
  /** Clock in ms (tests); Date.now by default. */
  now?: () => number;
  /** Random source for the retry jitter (tests); Math.random by default. */
  random?: () => number;
}

/** Why a notification was dropped without being sent. */
export type AlertDropReason = 'queue_full' | 'close';
export const ALERT_DROP_REASONS: readonly AlertDropReason[] = ['queue_full', 'close'];

export interface AlertStats {
  /** Notifications a webhook accepted (2xx); one notification goes to each webhook. */
  sent: number;
  /** Notifications given up: a 4xx answer, or still failing after the retries. */
  failed: number;
  dropped: Record<AlertDropReason, number>;
  /** Delivery attempts (requests tried, retries included). */
  attempts: number;
  /** Notifications waiting or in flight, over all webhooks. */
  pending: number;
  pendingBytes: number;
  /** Notifications waiting for a retry's delay after a failed attempt (a webhook failing now), over all webhooks. */
  retrying: number;
  /** 1 while the alert fires, 0 otherwise. */
  firing: Record<AlertName, 0 | 1>;
  /** Readings failing now (a callback or monitor that throws): the alerts they decide are not checked meanwhile. */
  readingsFailing: number;
  webhooks: number;
}

export interface Alerter {
  /** Checks every threshold now (the timer does this every checkInterval); returns the events queued. */
  check(): AlertEvent[];
  /** The alerts firing now. */
  firing(): AlertName[];
  stats(): AlertStats;
  /** Resolves when every queued notification is delivered or given up (bounded by `timeout` × attempts). */
  flush(): Promise<void>;
  /**
   * Stops watching, gives every queued notification one last attempt within `timeout`, then counts
   * what is left as dropped ("close") and closes the connections. Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
