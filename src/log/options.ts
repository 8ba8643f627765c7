// Options of the log shipper, declared once: createLogShipper validates its arguments with these
// specs, and the gateway's LOG_SHIP_* configuration (src/config/sections/log.ts) wraps the very
// same objects. Options without a variable (retryDelay, maxRetryDelay, breakerThreshold, now,
// random) are library-only.
import {
  bytes,
  duration,
  HEADER_VALUE_CHARS,
  list,
  num,
  oneOf,
  optionalStr,
  optionalUrl,
  requireOption,
  resolveOptions,
  str,
  type OptionSpec,
} from '../options/spec.js';
import { HeadroomError } from '../errors.js';
import { createFormat } from './formats.js';
import type { LogShipperOptions } from './types.js';

export const LOG_SHIP_FORMATS = ['elasticsearch', 'loki', 'jsonl'] as const;
export type LogShipFormat = (typeof LOG_SHIP_FORMATS)[number];

export const logShipSpecs = {
  url: optionalUrl({
    env: 'LOG_SHIP_URL',
    doc: 'Where log lines are shipped, besides stdout: the Elasticsearch/OpenSearch `_bulk` URL, the Loki push URL (`/loki/api/v1/push`) or any URL that takes JSON lines by POST. Unset: no shipping. user:password@ becomes a Basic Authorization header.',
    default: undefined,
    allowUserinfo: true,
    secret: true,
  }),
  format: oneOf({
    env: 'LOG_SHIP_FORMAT',
    doc: 'Protocol of LOG_SHIP_URL: elasticsearch (`_bulk` NDJSON, failed items retried one by one), loki (push API, one stream per level) or jsonl (the lines as they are, `application/x-ndjson`).',
    default: 'jsonl',
    values: LOG_SHIP_FORMATS,
  }),
  maxBytes: bytes({
    env: 'LOG_SHIP_MAX_BYTES',
    doc: 'Cap on every byte waiting to be shipped (queued, in flight, waiting for a retry), counted as sent on the wire plus 256 bytes of bookkeeping a line. When full, lines are dropped (debug and info before warn and above, oldest first); logging never blocks.',
    default: 16 * 1024 ** 2,
    min: 16 * 1024,
    max: 1024 ** 3,
  }),
  maxAge: duration({
    env: 'LOG_SHIP_MAX_AGE',
    doc: 'A line not delivered this long after it was logged is dropped.',
    default: 3_600_000,
    min: 1000,
    max: 7 * 24 * 3_600_000,
  }),
  batch: num({
    env: 'LOG_SHIP_BATCH',
    doc: 'Most lines sent in one request.',
    default: 100,
    min: 1,
    max: 10_000,
    integer: true,
  }),
  concurrency: num({
    env: 'LOG_SHIP_CONCURRENCY',
    doc: 'Most batches sent at once while the sink is up (one connection each), so a backlog drains after an outage; retries and the breaker probe go one round at a time. All of them count against LOG_SHIP_MAX_BYTES. Batches sent together may arrive out of order: Loki accepts that since 2.4 (`unordered_writes`, the default); set 1 for a Loki with ordered writes.',
    default: 4,
    min: 1,
    max: 16,
    integer: true,
  }),
  flushInterval: duration({
    env: 'LOG_SHIP_FLUSH_INTERVAL',
    doc: 'Lines fewer than LOG_SHIP_BATCH are sent after waiting at most this long.',
    default: 1000,
    min: 10,
    max: 60_000,
  }),
  timeout: duration({
    env: 'LOG_SHIP_TIMEOUT',
    doc: 'Longest time one request to the sink may take, connection included (a sink that accepts and never answers costs at most this); also the bound of the final flush on shutdown.',
    default: 5000,
    min: 10,
    max: 300_000,
  }),
  retries: num({
    env: 'LOG_SHIP_RETRIES',
    doc: 'Retries of a failed batch (or of the failed items of a `_bulk` answer) before its lines are dropped as failed. Delays grow exponentially with jitter.',
    default: 5,
    min: 0,
    max: 100,
    integer: true,
  }),
  breakDuration: duration({
    env: 'LOG_SHIP_BREAK_DURATION',
    doc: 'After consecutive failures the sink is left alone this long (circuit breaker), then probed with one request (so delivery resumes at most this long after the sink returns); meanwhile lines only queue within LOG_SHIP_MAX_BYTES.',
    default: 5000,
    min: 10,
    max: 3_600_000,
  }),
  index: str({
    env: 'LOG_SHIP_INDEX',
    doc: 'Elasticsearch/OpenSearch index (or data stream) the lines go to (format elasticsearch). Each line gets an `@timestamp` (ISO 8601, when it was logged) unless it has one: a data stream needs it.',
    default: 'headroom-logs',
    maxLength: 255,
    pattern: /^[a-z0-9][a-z0-9._+-]*$/,
    accepted: 'must be a lowercase index name of at most 255 characters (letters, digits, . _ + -; not starting with . _ + -)',
  }),
  labels: list({
    env: 'LOG_SHIP_LABELS',
    doc: 'Loki stream labels as name=value pairs (format loki); `level` is added to each stream.',
    default: ['service_name=headroom'],
    item: /^[a-zA-Z_][a-zA-Z0-9_]*=[^,"\\]{1,256}$/,
    itemText: 'name=value pairs (a label name, then a value of 1 to 256 characters without comma, quote or backslash)',
    maxItems: 16,
  }),
  authorization: optionalStr({
    env: 'LOG_SHIP_AUTHORIZATION',
    doc: 'Authorization header sent to the sink (e.g. `ApiKey …` for Elasticsearch, `Bearer …` for Loki).',
    default: undefined,
    maxLength: 8192,
    secret: true,
    pattern: HEADER_VALUE_CHARS,
    accepted: 'must be a header value of 1 to 8192 visible ASCII characters, spaces only between words (such as `ApiKey …` or `Bearer …`)',
  }),
  spillDir: optionalStr({
    env: 'LOG_SHIP_SPILL_DIR',
    doc: 'Directory of the optional disk spill: when LOG_SHIP_MAX_BYTES is full, lines are appended to a file here (at most LOG_SHIP_SPILL_MAX_BYTES) instead of being dropped, and shipped in order when the sink takes them again. The file is removed on shutdown (it outlasts an outage, not a restart). Unset: no spill.',
    default: undefined,
    maxLength: 4096,
  }),
  spillMaxBytes: bytes({
    env: 'LOG_SHIP_SPILL_MAX_BYTES',
    doc: 'Cap on the spill file (LOG_SHIP_SPILL_DIR); when it is full, lines are dropped by the usual policy.',
    default: 256 * 1024 ** 2,
    min: 64 * 1024,
    max: 64 * 1024 ** 3,
  }),
  // library-only
  retryDelay: duration({
    doc: 'First retry delay; each further retry doubles it (up to maxRetryDelay), with equal jitter (half the delay fixed, half random).',
    default: 500,
    min: 1,
    max: 60_000,
  }),
  maxRetryDelay: duration({
    doc: 'Longest delay between two retries.',
    default: 30_000,
    min: 1,
    max: 3_600_000,
  }),
  breakerThreshold: num({
    doc: 'Consecutive failed requests that open the circuit breaker.',
    default: 3,
    min: 1,
    max: 1000,
    integer: true,
  }),
  maxResponseBytes: bytes({
    doc: 'Most bytes of a sink answer that are read (a `_bulk` answer is parsed item by item); a longer one counts as a failed request.',
    default: 4 * 1024 ** 2,
    min: 1024,
    max: 256 * 1024 ** 2,
  }),
} satisfies Record<string, OptionSpec<unknown>>;

export interface ResolvedLogShipperOptions {
  url: URL;
  /** Authorization header: LOG_SHIP_AUTHORIZATION, or Basic from the URL's user:password@. */
  authorization: string | undefined;
  format: LogShipFormat;
  maxBytes: number;
  maxAge: number;
  batch: number;
  concurrency: number;
  flushInterval: number;
  timeout: number;
  retries: number;
  breakDuration: number;
  index: string;
  labels: Record<string, string>;
  spillDir: string | undefined;
  spillMaxBytes: number;
  retryDelay: number;
  maxRetryDelay: number;
  breakerThreshold: number;
  maxResponseBytes: number;
  now: () => number;
  random: () => number;
}

/** createLogShipper's options with every default filled in; one HEADROOM_CONFIG_INVALID naming each bad option. */
export function resolveLogShipperOptions(given: LogShipperOptions | undefined): ResolvedLogShipperOptions {
  const labels = given?.labels;
  // Labels as an object ({ job: 'api' }) are the library's shorthand for ['job=api'].
  if (labels && typeof labels === 'object' && !Array.isArray(labels)) {
    given = { ...given, labels: Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`) };
  }
  const o = resolveOptions('createLogShipper', logShipSpecs, given, ['now', 'random']);
  const raw = requireOption('createLogShipper', 'url', logShipSpecs.url, o.url);
  const problems: string[] = [];
  if (o.maxRetryDelay < o.retryDelay) problems.push(`maxRetryDelay=${o.maxRetryDelay}: must not be below retryDelay (${o.retryDelay})`);
  for (const fn of ['now', 'random'] as const) {
    if (o[fn] !== undefined && typeof o[fn] !== 'function') problems.push(`${fn}: must be a function`);
  }
  if (problems.length > 0) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createLogShipper: ${problems.join('; ')}`);
  const url = new URL(raw);
  let authorization = o.authorization;
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    authorization ??= `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const streamLabels = labelRecord(o.labels);
  const room = lineRoomProblem(
    { format: o.format, maxBytes: o.maxBytes, concurrency: o.concurrency, index: o.index, labels: streamLabels },
    { maxBytes: 'maxBytes', labels: 'labels', concurrency: 'concurrency' },
  );
  if (room) throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createLogShipper: maxBytes=${o.maxBytes} ${room}`);
  return {
    url,
    authorization,
    format: o.format,
    maxBytes: o.maxBytes,
    maxAge: o.maxAge,
    batch: o.batch,
    concurrency: o.concurrency,
    flushInterval: o.flushInterval,
    timeout: o.timeout,
    retries: o.retries,
    breakDuration: o.breakDuration,
    index: o.index,
    labels: streamLabels,
    spillDir: o.spillDir,
    spillMaxBytes: o.spillMaxBytes,
    retryDelay: o.retryDelay,
    maxRetryDelay: o.maxRetryDelay,
    breakerThreshold: o.breakerThreshold,
    maxResponseBytes: o.maxResponseBytes,
    now: o.now ?? Date.now,
    random: o.random ?? Math.random,
  };
}

/** Loki stream labels from their name=value pairs (checked by the labels spec). */
export function labelRecord(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

/** The least room maxBytes must leave for lines beside the batches' own bytes. */
const MIN_LINE_ROOM = 8 * 1024;

/**
 * Memory takes lines only up to room for the bodies' own bytes (Loki's stream headers: the labels,
 * once per level) of the batches that may exist at once; a cap that leaves almost nothing for lines
 * would drop every line. Said with the caller's names for the options (the library's or the
 * gateway's variables).
 */
export function lineRoomProblem(
  v: { format: LogShipFormat; maxBytes: number; concurrency: number; index: string; labels: Record<string, string> },
  names: { maxBytes: string; labels: string; concurrency: string },
): string | undefined {
  const perBatch = createFormat(v.format, v.index, v.labels).perBatch;
  if (v.maxBytes - perBatch * v.concurrency >= MIN_LINE_ROOM) return undefined;
  return (
    `leaves less than ${MIN_LINE_ROOM} bytes for lines: each batch's Loki stream headers (${names.labels}, once per level) take ${perBatch} bytes, ` +
    `and ${names.concurrency}=${v.concurrency} batches may exist at once; shorten or drop labels, lower ${names.concurrency}, or raise ${names.maxBytes}`
  );
}
