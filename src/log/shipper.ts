// A pino destination that ships log lines to Elasticsearch/OpenSearch `_bulk`, Loki push or any
// JSON-lines endpoint with one byte cap over everything that waits. Written here rather than using
// pino-elasticsearch or pino-loki (both are peers in bench/): they queue without a byte bound, drop
// failed batches without a count, and run behind pino.transport's thread-stream, whose main-thread
// buffer grows to hundreds of MiB and then blocks the event loop.
//
// Every line is in exactly one place: a queue (low: below warn; high: warn and above), the batch
// (in flight or waiting for a retry), or a counter (sent, dropped by reason). Moving it between
// them is synchronous, so produced = sent + dropped + pending holds at every instant.
// Client and the error classes from their own modules, not undici's index: the index loads all of
// undici (fetch, WebSocket, mocks), which would cost every gateway memory at start (bench/footprint).
import Client from 'undici/lib/dispatcher/client.js';
// Dispatcher.prototype.request is attached by undici's index only, so it is called from its module.
import request from 'undici/lib/api/api-request.js';
import undiciErrors from 'undici/lib/core/errors.js';
import { Deque } from './deque.js';
import { assemble, bulkVerdict, createFormat, ENTRY_OVERHEAD, levelOf, WARN, type Entry, type Verdict } from './formats.js';
import { resolveLogShipperOptions } from './options.js';
import { backoffDelay, bounded, retryableStatus } from './retry.js';
import {
  DROP_REASONS,
  type DropReason,
  type LogShipper,
  type LogShipperOptions,
  type LogShipStats,
  type RequestOutcome,
  type SinkState,
} from './types.js';

interface Batch {
  body: Buffer;
  entries: Entry[];
  /** body + ENTRY_OVERHEAD a line: what the batch counts against maxBytes. */
  cost: number;
  /** Failed attempts so far. */
  failures: number;
}

const METADATA = Symbol.for('pino.metadata');

export function createLogShipper(options: LogShipperOptions): LogShipper {
  const o = resolveLogShipperOptions(options);
  const format = createFormat(o.format, o.index, o.labels);
  // One connection: batches go one at a time, so a slow sink holds at most one batch in flight.
  const client = new Client(o.url.origin, {
    connect: { timeout: o.timeout },
    headersTimeout: o.timeout,
    bodyTimeout: o.timeout,
    keepAliveTimeout: 4000,
    pipelining: 1,
  });
  const path = requestPath(o.url, o.format);
  const headers: Record<string, string> = { 'content-type': format.contentType };
  if (o.authorization) headers.authorization = o.authorization;

  const low = new Deque<Entry>();
  const high = new Deque<Entry>();
  let queuedBytes = 0;
  let batch: Batch | undefined;
  let inFlight = false;

  let produced = 0;
  let sent = 0;
  const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  const requests: Record<RequestOutcome, number> = { ok: 0, partial: 0, rejected: 0, error: 0, timeout: 0, refused: 0 };
  let state: SinkState = 'up';
  let consecutiveFailures = 0;
  let openUntil = 0;

  let closing = false;
  /** Set once close() has given up: nothing is sent any more. */
  let stopped = false;
  let pumping: Promise<void> | undefined;
  let abortInFlight: (() => void) | undefined;
  let wake: (() => void) | undefined;

  const ticker = setInterval(tick, o.flushInterval);
  ticker.unref();

  const pendingBytes = (): number => queuedBytes + (batch?.cost ?? 0);

  function drop(reason: DropReason, n = 1): void {
    dropped[reason] += n;
  }

  function dropHead(q: Deque<Entry>, reason: DropReason): void {
    const e = q.shift()!;
    queuedBytes -= e.cost;
    drop(reason);
  }

  function releaseBatch(reason?: DropReason): void {
    if (!batch) return;
    if (reason) drop(reason, batch.entries.length);
    batch = undefined;
  }

  /**
   * Makes room for `cost` more bytes by the drop policy: queued debug/info lines oldest first; then
   * the new line itself if it is debug/info; then the batch waiting for a retry (the oldest lines);
   * then queued warn+ lines oldest first. Returns false when the new line is the one to drop.
   */
  function makeRoom(cost: number, level: number): boolean {
    while (pendingBytes() + cost > o.maxBytes) {
      if (low.length > 0) dropHead(low, 'cap');
      else if (level < WARN) return false;
      else if (batch && !inFlight) releaseBatch('cap');
      else if (high.length > 0) dropHead(high, 'cap');
      else return false;
    }
    return true;
  }

  function write(line: string | Uint8Array): boolean {
    produced++;
    if (closing) {
      drop('close');
      return true;
    }
    const text = typeof line === 'string' ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
    // pino announces the level of the line it is about to write (METADATA below); read once.
    const announced = shipper.lastLevel;
    shipper.lastLevel = undefined;
    shipper.lastObj = shipper.lastLogger = undefined; // not kept alive until the next line
    const level = typeof announced === 'number' ? announced : levelOf(text);
    const time = o.now();
    const buf = format.encode(text, level, time);
    const cost = buf.length + format.perEntry + ENTRY_OVERHEAD;
    if (cost + format.perBatch > o.maxBytes) {
      drop('too_large');
      return true;
    }
    if (!makeRoom(cost, level)) {
      drop('cap');
      return true;
    }
    (level < WARN ? low : high).push({ buf, level, time, cost });
    queuedBytes += cost;
    if (low.length + high.length >= o.batch && !pumping) void pump(false);
    return true;
  }

  function dropExpiredQueued(): void {
    const oldest = o.now() - o.maxAge;
    for (const q of [low, high]) while (q.length > 0 && q.peek()!.time < oldest) dropHead(q, 'age');
  }

  /** Lines of the waiting batch that grew too old are dropped (the rest is reassembled). */
  function dropExpiredBatch(): void {
    if (!batch || inFlight) return;
    const oldest = o.now() - o.maxAge;
    const keep = batch.entries.filter((e) => e.time >= oldest);
    if (keep.length === batch.entries.length) return;
    drop('age', batch.entries.length - keep.length);
    rebuild(keep);
  }

  function rebuild(keep: Entry[]): void {
    if (!batch) return;
    if (keep.length === 0) return void (batch = undefined);
    const { body, entries } = assemble(format, keep);
    batch = { body, entries, cost: body.length + entries.length * ENTRY_OVERHEAD, failures: batch.failures };
  }

  /** The oldest queued lines (both queues, by time), at most `batch` of them and within the cap. */
  function takeBatch(): void {
    const entries: Entry[] = [];
    let bytes = format.perBatch;
    while (entries.length < o.batch) {
      const l = low.peek();
      const h = high.peek();
      const q = l && (!h || l.time <= h.time) ? low : h ? high : undefined;
      if (!q) break;
      const next = q.peek()!;
      if (entries.length > 0 && bytes + next.cost > o.maxBytes) break;
      q.shift();
      queuedBytes -= next.cost;
      bytes += next.cost;
      entries.push(next);
    }
    const { body, entries: viewed } = assemble(format, entries);
    batch = { body, entries: viewed, cost: body.length + viewed.length * ENTRY_OVERHEAD, failures: 0 };
    // Loki's stream headers may take a little more than the lines did: queued lines make room.
    while (pendingBytes() > o.maxBytes && low.length + high.length > 0) dropHead(low.length > 0 ? low : high, 'cap');
  }

  function tick(): void {
    dropExpiredQueued();
    dropExpiredBatch();
    if (!pumping) void pump(true);
  }

  /** Waits `ms` (or until close() wakes it). The timer never keeps the process alive. */
  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      wake = done;
    });
  }

  const backoff = (failures: number): number => backoffDelay(failures, o.retryDelay, o.maxRetryDelay, o.random);

  /**
   * Sends batches one at a time: full ones, or (all) whatever is queued. A failed batch waits for
   * its retry here, and an open breaker makes it wait for the probe, so a dead sink costs one
   * sleeping promise while writes only queue (and drop) within the cap.
   */
  function pump(all: boolean): Promise<void> {
    return (pumping ??= run(all).finally(() => (pumping = undefined)));
  }

  async function run(all: boolean): Promise<void> {
    while (!stopped) {
      if (!batch) {
        dropExpiredQueued();
        const queued = low.length + high.length;
        if (queued === 0 || (!all && queued < o.batch)) return;
        takeBatch();
      }
      if (state === 'down') {
        if (closing) return;
        await sleep(openUntil - o.now());
        if (stopped) return;
        state = 'probing';
      }
      dropExpiredBatch();
      const current = batch;
      if (!current) continue;
      const verdict = await send(current);
      if (stopped || batch !== current) continue; // close() gave up, or the batch was dropped meanwhile
      apply(verdict, current);
      if (batch && !closing) {
        if ((state as SinkState) !== 'down') {
          state = 'retrying';
          await sleep(backoff(batch.failures));
        }
      } else if (batch && closing) {
        return; // one attempt per batch while closing; close() counts the rest
      }
    }
  }

  function apply(verdict: Verdict, current: Batch): void {
    const n = current.entries.length;
    if (verdict.kind === 'ok') {
      sent += n;
      releaseBatch();
      succeeded();
    } else if (verdict.kind === 'rejected') {
      releaseBatch('rejected');
      succeeded(); // the sink answered: it is up, the lines were bad
    } else if (verdict.kind === 'partial') {
      const retry = new Set(verdict.retry);
      sent += n - verdict.retry.length - verdict.rejected.length;
      drop('rejected', verdict.rejected.length);
      succeeded();
      rebuild(current.entries.filter((_, i) => retry.has(i)));
      if (batch) failed(batch);
    } else {
      consecutiveFailures++;
      if (consecutiveFailures >= o.breakerThreshold || state === 'probing') {
        state = 'down';
        openUntil = o.now() + o.breakDuration;
      }
      failed(current);
    }
  }

  function succeeded(): void {
    consecutiveFailures = 0;
    state = 'up';
  }

  /** One more failure of the batch; dropped as failed after `retries` retries. */
  function failed(b: Batch): void {
    b.failures++;
    if (b.failures > o.retries) releaseBatch('failed');
  }

  async function send(b: Batch): Promise<Verdict> {
    inFlight = true;
    const ac = new AbortController();
    abortInFlight = () => ac.abort();
    // undici's timeouts cover connect, headers and body separately; this bounds the whole request.
    const timer = setTimeout(() => ac.abort(), o.timeout);
    timer.unref();
    try {
      const res = await request.call(client, { path, method: 'POST', headers, body: b.body, signal: ac.signal });
      let verdict: Verdict;
      if (res.statusCode >= 200 && res.statusCode < 300) {
        verdict =
          format.name === 'elasticsearch' ? bulkVerdict(await readText(res.body, o.maxResponseBytes), b.entries.length) : { kind: 'ok' };
      } else {
        verdict = retryableStatus(res.statusCode)
          ? { kind: 'retry', reason: `status ${res.statusCode}` }
          : { kind: 'rejected', reason: `status ${res.statusCode}` };
      }
      if (format.name !== 'elasticsearch' || verdict.kind === 'retry' || verdict.kind === 'rejected')
        await res.body.dump({ limit: 64 * 1024 });
      requests[verdict.kind === 'retry' ? 'error' : verdict.kind]++;
      return verdict;
    } catch (err) {
      requests[outcomeOf(err, ac.signal.aborted)]++;
      return { kind: 'retry', reason: (err as Error).message };
    } finally {
      clearTimeout(timer);
      inFlight = false;
      abortInFlight = undefined;
    }
  }

  function stats(): LogShipStats {
    return {
      produced,
      sent,
      dropped: { ...dropped },
      pendingEntries: low.length + high.length + (batch?.entries.length ?? 0),
      pendingBytes: pendingBytes(),
      maxBytes: o.maxBytes,
      requests: { ...requests },
      sinkState: stopped ? 'closed' : state,
      format: o.format,
    };
  }

  /** Waits for the running pump, then sends what is queued; bounded by `timeout`. */
  async function flushNow(): Promise<void> {
    await bounded(
      (async () => {
        if (pumping) await pumping;
        if (!stopped && state !== 'down') await pump(true);
      })(),
      o.timeout,
    );
  }

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    clearInterval(ticker);
    wake?.(); // a retry or a breaker wait ends now
    // A sink that is down gets no last attempt; otherwise one attempt per batch, within timeout.
    await bounded(
      (async () => {
        if (pumping) await pumping;
        if (state !== 'down') await pump(true);
      })(),
      o.timeout,
    );
    stopped = true;
    abortInFlight?.();
    wake?.();
    releaseBatch('close');
    for (const q of [low, high]) {
      for (const e of q.drain()) {
        queuedBytes -= e.cost;
        drop('close');
      }
    }
    await pumping;
    await client.destroy();
  }

  const shipper = {
    [METADATA]: true,
    // pino(shipper) takes a lone argument as the destination when it looks writable.
    writable: true,
    lastLevel: undefined as unknown,
    lastObj: undefined as unknown,
    lastLogger: undefined as unknown,
    write,
    flush(cb?: (err?: Error) => void): Promise<void> {
      const p = flushNow();
      if (cb) p.then(() => cb(), cb);
      return p;
    },
    stats,
    close: () => (closed ??= close()),
    [Symbol.asyncDispose]: () => (closed ??= close()),
  };
  return shipper;
}

function outcomeOf(err: unknown, aborted: boolean): RequestOutcome {
  const code = (err as { code?: string }).code;
  if (aborted || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) return 'timeout';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED') return 'refused';
  return 'error';
}

/** At most `max` bytes of a response body as text; a longer body fails the request. */
async function readText(body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw new Error(`sink answer larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The URL's path; for `_bulk`, asks only for what is read (errors and each item's status). */
function requestPath(url: URL, format: string): string {
  const u = new URL(url.href);
  if (format === 'elasticsearch' && !u.searchParams.has('filter_path')) u.searchParams.set('filter_path', 'errors,items.*.status');
  return `${u.pathname}${u.search}`;
}
