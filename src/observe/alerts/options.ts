// Options of the alerter, declared once: createAlerter validates its arguments with these specs,
// and the gateway's ALERT_* configuration (src/config/sections/alerts.ts) wraps the very same
// objects. Options without a variable (retryDelay, maxRetryDelay, instance, monitor, callbacks,
// now, random) are library-only.
import { hostname } from 'node:os';
import { HeadroomError } from '../../errors.js';
import {
  bytes,
  duration,
  num,
  oneOf,
  optionalObject,
  optionalStr,
  requireOption,
  resolveOptions,
  str,
  urlList,
  type OptionSpec,
} from '../../options/spec.js';
import type { AlerterOptions, AlertMonitor } from './types.js';

export const ALERT_FORMATS = ['generic', 'slack', 'alertmanager'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

/** The monitor methods the alerter calls: the keys of AlertMonitor. */
const ALERT_MONITOR_METHODS: readonly (keyof AlertMonitor)[] = ['status', 'onStatus', 'current', 'history', 'trend', 'gc', 'thresholds'];

export const alertSpecs = {
  webhookUrls: urlList({
    env: 'ALERT_WEBHOOK_URL',
    doc: 'Webhooks alerts are POSTed to, comma-separated (each gets every notification). Unset: no alerts. user:password@ becomes a Basic Authorization header. Secret: a Slack or Teams webhook carries its token in the path.',
    default: [],
    maxItems: 8,
    allowUserinfo: true,
    secret: true,
  }),
  format: oneOf({
    env: 'ALERT_WEBHOOK_FORMAT',
    doc: 'Body of each notification: generic (headroom JSON), slack (`{"text": …}`, also Mattermost, Rocket.Chat, Teams workflows) or alertmanager (the Alertmanager webhook payload, version 4).',
    default: 'generic',
    values: ALERT_FORMATS,
  }),
  hmacSecret: optionalStr({
    env: 'ALERT_WEBHOOK_SECRET',
    doc: 'Signs every body: `X-Headroom-Signature: sha256=<hex>` is the HMAC-SHA256 of `<timestamp>.<body>` with this secret, `X-Headroom-Timestamp` the Unix seconds it was sent at (see docs/alerts.md). Unset: unsigned.',
    default: undefined,
    minLength: 16,
    maxLength: 4096,
    accepted: 'must be a string of 16 to 4096 characters',
    secret: true,
  }),
  checkInterval: duration({
    env: 'ALERT_CHECK_INTERVAL',
    doc: 'How often the thresholds (heap forecast, event-loop delay, shedding, L2) are checked. Memory status changes are seen at once.',
    default: 10_000,
    min: 100,
    max: 600_000,
  }),
  resolveAfter: duration({
    env: 'ALERT_RESOLVE_AFTER',
    doc: 'A threshold alert resolves only after its condition has stayed clear this long, so a value hovering at the bound is one episode, not a flood. Memory status alerts use the monitor hysteresis (MEMORY_HYSTERESIS) instead, unless it is 0.',
    default: 60_000,
    min: 0,
    max: 3_600_000,
  }),
  heapForecast: duration({
    env: 'ALERT_HEAP_FORECAST',
    doc: 'Fires when the heap would reach its V8 limit within this time at the current post-GC trend (MEMORY_TREND_WINDOW). 0 turns this alert off.',
    default: 3_600_000,
    min: 0,
    max: 7 * 24 * 3_600_000,
  }),
  eventLoopP99: duration({
    env: 'ALERT_EVENT_LOOP_P99',
    doc: 'Fires when the event-loop delay p99 reaches this in most memory samples of a check interval, and never in fewer than the last 3 (their median: one stall does not fire it). 0 turns this alert off.',
    default: 500,
    min: 0,
    max: 60_000,
  }),
  shedRate: num({
    env: 'ALERT_SHED_RATE',
    doc: 'Fires when requests shed or refused for memory or load (responses cut at critical, 503 from the memory breaker, 503 queue full or queue timeout) reach this many per second over a check interval. 0 turns this alert off.',
    default: 1,
    min: 0,
    max: 1_000_000,
    unit: 'per second',
  }),
  timeout: duration({
    env: 'ALERT_TIMEOUT',
    doc: 'Longest time one delivery attempt may take, connection included; also the bound of the last attempt on shutdown.',
    default: 5000,
    min: 10,
    max: 120_000,
  }),
  retries: num({
    env: 'ALERT_RETRIES',
    doc: 'Retries of a notification after a connection error, a timeout, 408, 429 or 5xx (delays grow exponentially with jitter; a longer Retry-After in the answer is obeyed, up to 10 min); another 4xx is not retried.',
    default: 3,
    min: 0,
    max: 20,
    integer: true,
  }),
  queueSize: num({
    env: 'ALERT_QUEUE_SIZE',
    doc: 'Notifications waiting per webhook (the one being sent included). When full, the oldest waiting one is dropped (headroom_alerts_dropped_total).',
    default: 64,
    min: 1,
    max: 10_000,
    integer: true,
  }),
  queueBytes: bytes({
    env: 'ALERT_QUEUE_BYTES',
    doc: 'Bytes of notification bodies waiting per webhook; the same drop rule as ALERT_QUEUE_SIZE.',
    default: 1024 ** 2,
    min: 4 * 1024,
    max: 64 * 1024 ** 2,
  }),
  // library-only
  retryDelay: duration({
    doc: 'First retry delay; each further retry doubles it (up to maxRetryDelay), with jitter.',
    default: 1000,
    min: 1,
    max: 60_000,
  }),
  maxRetryDelay: duration({ doc: 'Longest delay between two retries.', default: 30_000, min: 1, max: 600_000 }),
  instance: str({
    doc: 'Names this process in every notification (the `instance` label).',
    default: '',
    defaultText: 'the host name',
    maxLength: 253,
  }),
  // Exactly the methods the alerter calls (AlertMonitor), not those of every memory monitor: an
  // object with these is enough (onPressure() is not used here).
  monitor: optionalObject<AlertMonitor>({
    doc: 'The memory monitor whose status, post-GC trend and event-loop delay are watched. Required.',
    what: 'a memory monitor',
    methods: ALERT_MONITOR_METHODS,
  }),
} satisfies Record<string, OptionSpec<unknown>>;

export interface ResolvedAlerterOptions {
  targets: { url: URL; authorization: string | undefined }[];
  format: AlertFormat;
  hmacSecret: string | undefined;
  checkInterval: number;
  resolveAfter: number;
  heapForecast: number;
  eventLoopP99: number;
  shedRate: number;
  timeout: number;
  retries: number;
  queueSize: number;
  queueBytes: number;
  retryDelay: number;
  maxRetryDelay: number;
  instance: string;
  monitor: AlertMonitor;
  l2Available: (() => boolean | null) | undefined;
  shedCount: (() => number) | undefined;
  logger: AlerterOptions['logger'];
  now: () => number;
  random: () => number;
}

/** createAlerter's options with every default filled in; one HEADROOM_CONFIG_INVALID naming each bad option. */
export function resolveAlerterOptions(given: AlerterOptions | undefined): ResolvedAlerterOptions {
  const o = resolveOptions('createAlerter', alertSpecs, given, ['l2Available', 'shedCount', 'logger', 'now', 'random']);
  const monitor = requireOption('createAlerter', 'monitor', alertSpecs.monitor, o.monitor);
  const problems: string[] = [];
  if (o.webhookUrls.length === 0) problems.push(`webhookUrls is required: ${alertSpecs.webhookUrls.accepted}`);
  if (o.maxRetryDelay < o.retryDelay) problems.push(`maxRetryDelay=${o.maxRetryDelay}: must not be below retryDelay (${o.retryDelay})`);
  for (const fn of ['l2Available', 'shedCount', 'now', 'random'] as const) {
    if (o[fn] !== undefined && typeof o[fn] !== 'function') problems.push(`${fn}: must be a function`);
  }
  const logger = o.logger;
  if (logger !== undefined && (typeof logger?.warn !== 'function' || typeof logger.info !== 'function'))
    problems.push('logger: must be a logger (an object with warn(), info())');
  if (problems.length > 0) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createAlerter: ${problems.join('; ')}`);
  return {
    targets: o.webhookUrls.map(target),
    format: o.format,
    hmacSecret: o.hmacSecret,
    checkInterval: o.checkInterval,
    resolveAfter: o.resolveAfter,
    heapForecast: o.heapForecast,
    eventLoopP99: o.eventLoopP99,
    shedRate: o.shedRate,
    timeout: o.timeout,
    retries: o.retries,
    queueSize: o.queueSize,
    queueBytes: o.queueBytes,
    retryDelay: o.retryDelay,
    maxRetryDelay: o.maxRetryDelay,
    instance: o.instance || hostname(),
    monitor,
    l2Available: o.l2Available,
    shedCount: o.shedCount,
    logger,
    now: o.now ?? Date.now,
    random: o.random ?? Math.random,
  };
}

/** The URL without user:password@, which becomes a Basic Authorization header. */
function target(raw: string): { url: URL; authorization: string | undefined } {
  const url = new URL(raw);
  if (!url.username && !url.password) return { url, authorization: undefined };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}
