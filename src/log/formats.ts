// The three wire formats. A line is encoded once, when it is written, into the bytes it takes on
// the wire; a request body is the list of those buffers between shared constant separators (sent
// as an iterable with its Content-Length, so a batch is never copied into one big buffer). What
// waits is therefore exactly what is counted against the cap.
import type { LogShipFormat } from './options.js';
import { retryableStatus } from './retry.js';

/**
 * Bookkeeping charged per line besides its bytes: the entry object, its queue slot, and the line's
 * own Buffer and backing store (a queued line owns its memory, see owned(); ~250 B on Node 20 x64).
 */
export const ENTRY_OVERHEAD = 256;

/**
 * The bytes in memory of their own. Buffer.from() puts small strings in shared 8 KiB pool slabs:
 * with the sink down and info lines dropped to make room, each kept warn line held its whole slab
 * (memory ~20× the cap while pendingBytes read the cap).
 */
export function owned(buf: Buffer): Buffer {
  if (buf.byteLength === buf.buffer.byteLength) return buf;
  const out = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(out);
  return out;
}

export interface Entry {
  /** The line as sent (jsonl, elasticsearch: the JSON line with its newline; loki: one `["ns","line"]` value). */
  buf: Buffer;
  /** pino level number. */
  level: number;
  /** When it was written (ms, the shipper's clock): maxAge counts from here. */
  time: number;
  /** Write order across both queues (lines written within one millisecond keep their order). */
  seq: number;
  /** Bytes counted against maxBytes. */
  cost: number;
}

export const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const LEVEL_NUMBERS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
/** Lines below this level are dropped first when the cap is reached. */
export const WARN = 40;

/**
 * The level of a line pino did not announce (pino sets `lastLevel` on a destination that asks for
 * metadata; a line written by something else is read here). pino writes `"level"` first, so only
 * the start of the line is searched. Unknown: info.
 */
export function levelOf(line: string): number {
  const at = line.indexOf('"level":');
  if (at < 0 || at > 200) return 30;
  const c = line.charCodeAt(at + 8);
  if (c >= 48 && c <= 57) return Number.parseInt(line.slice(at + 8, at + 11), 10) || 30;
  if (c === 34) {
    const end = line.indexOf('"', at + 9);
    return LEVEL_NUMBERS[line.slice(at + 9, end)] ?? 30;
  }
  return 30;
}

const COMMA = Buffer.from(',');

/** A request body's layout: shared constant buffers, and the index of each line in the batch. */
export type Layout = (Buffer | number)[];

export interface Format {
  readonly name: LogShipFormat;
  readonly contentType: string;
  /** The wire bytes of one line (`line` is pino's output, normally with its trailing newline). */
  encode(line: string, level: number, time: number): Buffer;
  /** Bytes a line costs on the wire besides its `buf` (a separator or an action line). */
  readonly perEntry: number;
  /** Most bytes a body adds besides its lines (Loki's stream headers); a batch leaves room for it. */
  readonly perBatch: number;
  layout(entries: readonly Entry[]): Layout;
}

const withNewline = (line: string): Buffer => Buffer.from(line.endsWith('\n') ? line : `${line}\n`);

/**
 * The line with an `@timestamp` (ISO 8601, when it was written) first, unless it has one: a data
 * stream refuses a document without it (every line of pino, whose `time` is epoch ms, would be
 * `rejected`), and Kibana sorts by it. A line that is not a JSON object is sent as it is.
 */
function withTimestamp(line: string, time: number): Buffer {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (text[0] !== '{' || !Number.isFinite(time) || text.includes('"@timestamp"')) return Buffer.from(`${text}\n`);
  const rest = text.slice(1).trimStart();
  return Buffer.from(`{"@timestamp":"${new Date(time).toISOString()}"${rest.startsWith('}') ? '' : ','}${rest}\n`);
}

function jsonl(): Format {
  return {
    name: 'jsonl',
    contentType: 'application/x-ndjson',
    perEntry: 0,
    perBatch: 0,
    encode: withNewline,
    layout: (entries) => entries.map((_, i) => i),
  };
}

function elasticsearch(index: string): Format {
  // `create` works for an index and for a data stream; ids are left to the cluster.
  const action = Buffer.from(`${JSON.stringify({ create: { _index: index } })}\n`);
  return {
    name: 'elasticsearch',
    contentType: 'application/x-ndjson',
    perEntry: action.length,
    perBatch: 0,
    encode: (line, _level, time) => withTimestamp(line, time),
    layout: (entries) => entries.flatMap((_, i) => [action, i]),
  };
}

const LOKI_LEVELS = [...Object.values(LEVEL_NAMES), 'other'];

function loki(labels: Record<string, string>): Format {
  // One stream per level: the label set stays bounded (six levels and "other").
  const heads = new Map(LOKI_LEVELS.map((level) => [level, Buffer.from(`{"stream":${JSON.stringify({ ...labels, level })},"values":[`)]));
  const open = Buffer.from('{"streams":[');
  const close = Buffer.from(']}');
  let perBatch = open.length + close.length;
  for (const h of heads.values()) perBatch += COMMA.length + h.length + close.length;
  return {
    name: 'loki',
    contentType: 'application/json',
    perEntry: COMMA.length,
    perBatch,
    encode: (line, _level, time) => {
      const text = line.endsWith('\n') ? line.slice(0, -1) : line;
      return Buffer.from(`["${time}000000",${JSON.stringify(text)}]`);
    },
    layout: (entries) => {
      const byLevel = new Map<string, number[]>();
      entries.forEach((e, i) => {
        const name = LEVEL_NAMES[e.level] ?? 'other';
        let list = byLevel.get(name);
        if (!list) byLevel.set(name, (list = []));
        list.push(i);
      });
      const out: Layout = [open];
      for (const [level, list] of byLevel) {
        if (out.length > 1) out.push(COMMA);
        out.push(heads.get(level)!);
        list.forEach((i, n) => (n > 0 ? out.push(COMMA, i) : out.push(i)));
        out.push(close);
      }
      out.push(close);
      return out;
    },
  };
}

export function createFormat(name: LogShipFormat, index: string, labels: Record<string, string>): Format {
  return name === 'elasticsearch' ? elasticsearch(index) : name === 'loki' ? loki(labels) : jsonl();
}

/**
 * One request body for `entries`, copied once into a single buffer; the returned entries' `buf`
 * are views of that body, so a retry of some of them (a `_bulk` partial failure, lines that grew
 * too old) is assembled from it and the old body is then garbage. In flight, a batch costs its
 * body plus ENTRY_OVERHEAD a line.
 */
export function assemble(format: Format, entries: readonly Entry[]): { body: Buffer; entries: Entry[] } {
  const layout = format.layout(entries);
  let length = 0;
  for (const part of layout) length += typeof part === 'number' ? entries[part]!.buf.length : part.length;
  const body = Buffer.allocUnsafeSlow(length);
  const out = new Array<Entry>(entries.length);
  let at = 0;
  for (const part of layout) {
    if (typeof part === 'number') {
      const e = entries[part]!;
      e.buf.copy(body, at);
      out[part] = { ...e, buf: body.subarray(at, at + e.buf.length) };
      at += e.buf.length;
    } else {
      part.copy(body, at);
      at += part.length;
    }
  }
  return { body, entries: out };
}

/** What a sink's answer means for each line of the batch. */
export type Verdict =
  | { kind: 'ok' }
  /**
   * Retry the whole batch later. `unreachable`: no answer at all (refused, timed out), so a probe
   * of a down sink does not count as one of the batch's retries; `after`: the sink's Retry-After, ms.
   */
  | { kind: 'retry'; reason: string; unreachable?: boolean; after?: number }
  /** The sink refused the batch for good; `status` when it said so with one. */
  | { kind: 'rejected'; reason: string; status?: number }
  /** `_bulk` item by item: indexes of the batch to retry, and to drop as rejected; `reason`: the first item's error. */
  | { kind: 'partial'; retry: number[]; rejected: number[]; reason: string };

/** 408, 429 and 5xx are worth a retry; any other non-2xx status is a refusal. */
interface BulkAnswer {
  errors?: boolean;
  items?: Record<string, { status?: number; error?: { type?: unknown; reason?: unknown } }>[];
}

/**
 * Reads a 2xx `_bulk` answer: `errors: true` means some items failed, each with its own status
 * (429 and 5xx are retried, others, like a mapping error, are refused for good). An answer that
 * cannot be read item by item is retried whole: losing lines is worse than a duplicate.
 */
export function bulkVerdict(body: string, count: number): Verdict {
  let answer: BulkAnswer;
  try {
    answer = JSON.parse(body) as BulkAnswer;
  } catch {
    return { kind: 'retry', reason: 'unreadable _bulk answer' };
  }
  if (answer.errors !== true) return { kind: 'ok' };
  const items = answer.items;
  if (!Array.isArray(items) || items.length !== count) return { kind: 'retry', reason: '_bulk answer without one item per line' };
  const retry: number[] = [];
  const rejected: number[] = [];
  let reason = '';
  items.forEach((item, i) => {
    const result = Object.values(item ?? {})[0];
    const status = result?.status ?? 500;
    if (status >= 200 && status < 300) return;
    (retryableStatus(status) ? retry : rejected).push(i);
    // The first failed item says why (e.g. a data stream refusing a line without @timestamp).
    if (!reason) {
      const why = [result?.error?.type, result?.error?.reason].filter((x) => typeof x === 'string').join(': ');
      reason = `_bulk item status ${status}${why ? `: ${why}` : ''}`.slice(0, 300);
    }
  });
  return { kind: 'partial', retry, rejected, reason };
}
