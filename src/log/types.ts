// Public types of the log shipper (headroom-memory/log).
import type { LogShipFormat } from './options.js';

export type { LogShipFormat } from './options.js';

export interface LogShipperOptions {
  /** Sink URL (`_bulk`, `/loki/api/v1/push`, or any URL taking JSON lines). Required. */
  url?: string | URL;
  format?: LogShipFormat;
  /** Cap on every byte waiting anywhere (queue, in flight, retries); a byte size or a number. */
  maxBytes?: number | string;
  /** Lines older than this (ms or a duration string) are dropped. */
  maxAge?: number | string;
  batch?: number;
  /** Most batches in flight at once (1–16, default 4); 1 keeps strict order. */
  concurrency?: number;
  flushInterval?: number | string;
  /** Longest time of one request (and bound of the final flush in close()). */
  timeout?: number | string;
  retries?: number;
  breakDuration?: number | string;
  index?: string;
  /** Loki stream labels: `['job=api']` or `{ job: 'api' }`. */
  labels?: string[] | string | Record<string, string>;
  authorization?: string;
  /** Directory of the optional disk spill (a file capped at spillMaxBytes); unset: no spill. */
  spillDir?: string;
  spillMaxBytes?: number | string;
  retryDelay?: number | string;
  maxRetryDelay?: number | string;
  breakerThreshold?: number;
  maxResponseBytes?: number | string;
  /** Clock in ms (tests); Date.now by default. */
  now?: () => number;
  /** Random source for the retry jitter (tests); Math.random by default. */
  random?: () => number;
}

/** Why lines were dropped. */
export type DropReason =
  /** LOG_SHIP_MAX_BYTES was reached. */
  | 'cap'
  /** Older than LOG_SHIP_MAX_AGE. */
  | 'age'
  /** A single line larger than the whole cap. */
  | 'too_large'
  /** The sink refused the line for good (4xx, or a `_bulk` item error that a retry cannot fix). */
  | 'rejected'
  /** Still failing after LOG_SHIP_RETRIES retries. */
  | 'failed'
  /** Still waiting when close() gave up, logged after close(), or lost with a transport worker that died (guardTransport). */
  | 'close'
  /** Spilled to disk and read back truncated or corrupt (with every later line of the file). */
  | 'spill_corrupt';

export const DROP_REASONS: readonly DropReason[] = ['cap', 'age', 'too_large', 'rejected', 'failed', 'close', 'spill_corrupt'];

/** up: last request succeeded; retrying: a batch failed and waits for a retry; down: breaker open; probing: one trial request; closed. */
export type SinkState = 'up' | 'retrying' | 'down' | 'probing' | 'closed';

export const SINK_STATES: readonly SinkState[] = ['up', 'retrying', 'down', 'probing', 'closed'];

/** ok; partial: a `_bulk` answer with item errors; rejected: a 4xx; error: a 5xx, 408, 429 or a broken connection; timeout; refused: connection refused. */
export type RequestOutcome = 'ok' | 'partial' | 'rejected' | 'error' | 'timeout' | 'refused';

export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ['ok', 'partial', 'rejected', 'error', 'timeout', 'refused'];

export interface LogShipStats {
  /** Lines written to the shipper. produced = sent + dropped (all reasons) + pendingEntries, always. */
  produced: number;
  sent: number;
  dropped: Record<DropReason, number>;
  pendingEntries: number;
  /** Bytes counted against maxBytes now (queued + in flight + waiting for a retry). */
  pendingBytes: number;
  maxBytes: number;
  /** Requests by outcome. */
  requests: Record<RequestOutcome, number>;
  sinkState: SinkState;
  /**
   * Why the sink last failed or refused lines, and when (ms since the epoch): `status 401`, a TLS or
   * connection error's message, the first failed `_bulk` item's error. Null until the first failure.
   */
  lastFailure: { reason: string; at: number } | null;
  format: LogShipFormat;
  /** With a spill directory: the spill file (its lines are in pendingEntries; its bytes are on disk, not in pendingBytes). */
  spill?: SpillStats;
}

export interface SpillStats {
  /** Lines in the file now. */
  entries: number;
  /** Bytes in the file not yet read back. */
  bytes: number;
  /** LOG_SHIP_SPILL_MAX_BYTES. */
  maxBytes: number;
  /** Lines ever written to the file. */
  spilled: number;
  /** Lines ever read back from it into memory. */
  readBack: number;
  /** Lines the file did not take (full, or the write failed); they met the memory drop policy. */
  refused: number;
  /** Spill files left by processes that ended without close() (a crash), removed when this shipper started. */
  orphansRemoved: { files: number; bytes: number };
}

/** A pino destination (`pino(opts, shipper)` or one stream of `pino.multistream`). */
export interface LogShipper {
  /** Always true: lets `pino(shipper)` take the shipper as its destination. */
  readonly writable: boolean;
  /**
   * Takes one log line (pino's JSON with its newline). Never blocks; throws (a TypeError, nothing
   * counted) only for a line that is neither a string nor a Uint8Array, which pino never writes.
   */
  write(line: string | Uint8Array): boolean;
  /** Sends what is queued now (bounded by the timeout); resolves when done or the sink is down. */
  flush(cb?: (err?: Error) => void): Promise<void>;
  stats(): LogShipStats;
  /**
   * Flushes within `timeout`, then counts what is left as dropped ("close"), aborts the request in
   * flight and closes the connection. Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The event a transport worker posts its stats as (on the main-thread stream). */
export const STATS_EVENT = 'headroom:log-stats';
