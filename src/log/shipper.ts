// A pino destination that ships log lines to Elasticsearch/OpenSearch `_bulk`, Loki push or any
// JSON-lines endpoint with one byte cap over everything that waits. Written here rather than using
// pino-elasticsearch or pino-loki (both are peers in bench/): they queue without a byte bound, drop
// failed batches without a count, and run behind pino.transport's thread-stream, whose main-thread
// buffer grows to hundreds of MiB and then blocks the event loop.
//
// Every line is in exactly one place: a queue (low: below warn; high: warn and above), one of at
// most `concurrency` batches (in flight or waiting for a retry), the optional spill file (spill.ts),
// or a counter (sent, dropped by reason). Moving it between them is synchronous, so produced = sent + dropped + pending holds at
// every instant.
//
// Batches go in rounds: while the sink is up, up to `concurrency` batches are sent at once (each on
// its own connection), and each one answered without a failure is replaced at once by the next
// full batch (in a flush, whatever is queued), so a backlog drains `concurrency` batches per round
// trip; after a failure the round's other batches are awaited, and the retries wait their backoff.
// Order across the batches of one round (and around a retry) is not kept: Loki accepts that since
// 2.4 (`unordered_writes`, on by default), Elasticsearch orders by the documents' time anyway; for
// a Loki with ordered writes, concurrency 1 sends strictly in order (docs/logging.md).
// Pool and the error classes from their own modules, not undici's index: the index loads all of
// undici (fetch, WebSocket, mocks), which would cost every gateway memory at start (bench/footprint).
import Pool from 'undici/lib/dispatcher/pool.js';
// Dispatcher.prototype.request is attached by undici's index only, so it is called from its module.
import request from 'undici/lib/api/api-request.js';
import undiciErrors from 'undici/lib/core/errors.js';
import { HeadroomError } from '../errors.js';
import { kindOf } from '../options/spec.js';
import { fsReason } from '../options/user-files.js';
import { Deque } from './deque.js';
import { SpillFile, type SpilledLine } from './spill.js';
import { assemble, bulkVerdict, createFormat, ENTRY_OVERHEAD, levelOf, owned, WARN, type Entry, type Verdict } from './formats.js';
import { resolveLogShipperOptions } from './options.js';
import { backoffDelay, bounded, retryAfterMs, retryableStatus } from './retry.js';
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
  /** A request carries it now: it can neither be dropped for room nor for age. */
  inFlight: boolean;
  /** The sink's Retry-After on its last failure, ms. */
  retryAfter?: number;
}

const METADATA = Symbol.for('pino.metadata');

export function createLogShipper(options: LogShipperOptions): LogShipper {
  const o = resolveLogShipperOptions(options);
  const format = createFormat(o.format, o.index, o.labels);
  // Memory takes lines only up to room for the bodies' own bytes (Loki's stream headers) of the
  // batches that may exist at once: assembling a batch must not push the total past the cap.
  // (resolveLogShipperOptions made sure this leaves room for lines.)
  const bodyReserve = format.perBatch * o.concurrency;
  const spill = o.spillDir === undefined ? undefined : openSpill(o.spillDir, o.spillMaxBytes, o.maxBytes);
  // One connection per concurrent batch, no pipelining: a slow answer delays only its own batch.
  const client = new Pool(o.url.origin, {
    connections: o.concurrency,
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
  /** Taken from the queues, oldest first; at most `concurrency`. */
  const batches: Batch[] = [];
  let batchBytes = 0;

  let produced = 0;
  let written = 0; // sequence of the lines queued in memory (Entry.seq)
  let sent = 0;
  const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  const requests: Record<RequestOutcome, number> = { ok: 0, partial: 0, rejected: 0, error: 0, timeout: 0, refused: 0 };
  let state: SinkState = 'up';
  let consecutiveFailures = 0;
  let lastFailure: { reason: string; at: number } | null = null;
  /** Bytes a batch may have since the sink refused a larger one as too large (413); unbounded until then. */
  let largestAccepted = Infinity;
  let openUntil = 0;

  let closing = false;
  /** Set once close() has given up: nothing is sent any more. */
  let stopped = false;
  let pumping: Promise<void> | undefined;
  const aborts = new Set<() => void>();
  let wake: (() => void) | undefined;

  const ticker = setInterval(tick, o.flushInterval);
  ticker.unref();

  const pendingBytes = (): number => queuedBytes + batchBytes;

  function drop(reason: DropReason, n = 1): void {
    dropped[reason] += n;
  }

  function dropHead(q: Deque<Entry>, reason: DropReason): void {
    const e = q.shift()!;
    queuedBytes -= e.cost;
    drop(reason);
  }

  function releaseBatch(b: Batch, reason?: DropReason): void {
    const i = batches.indexOf(b);
    if (i < 0) return;
    batches.splice(i, 1);
    batchBytes -= b.cost;
    if (reason) drop(reason, b.entries.length);
  }

  const held = (b: Batch): boolean => batches.includes(b);

  /**
   * Makes room for `cost` more bytes by the drop policy: queued debug/info lines oldest first; then
   * the new line itself if it is debug/info; then the oldest batch waiting for a retry (the oldest
   * lines); then queued warn+ lines oldest first. Returns false when the new line is the one to drop.
   */
  function makeRoom(cost: number, level: number): boolean {
    // A line larger than the room left for lines goes alone (write() made sure it fits one batch).
    while (pendingBytes() + cost > o.maxBytes - bodyReserve && pendingBytes() > 0) {
      const waiting = batches.find((b) => !b.inFlight);
      if (low.length > 0) dropHead(low, 'cap');
      else if (level < WARN) return false;
      else if (waiting) releaseBatch(waiting, 'cap');
      else if (high.length > 0) dropHead(high, 'cap');
      else return false;
    }
    return true;
  }

  function write(line: string | Uint8Array): boolean {
    // Checked before it is counted, so produced = sent + dropped + pending still holds.
    if (typeof line !== 'string' && !(line instanceof Uint8Array))
      throw new TypeError(`createLogShipper: write() takes a log line as a string or a Uint8Array, got ${kindOf(line)}`);
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
    const buf = owned(format.encode(text, level, time));
    const cost = costOf(buf);
    if (cost + format.perBatch > o.maxBytes) {
      drop('too_large');
      return true;
    }
    // Memory full, or older lines already on disk (they go out first): to the spill while it has room.
    if (spill && (spill.entries > 0 || pendingBytes() + cost > o.maxBytes - bodyReserve) && spill.append({ buf, level, time })) return true;
    if (!makeRoom(cost, level)) {
      drop('cap');
      return true;
    }
    (level < WARN ? low : high).push({ buf, level, time, cost, seq: ++written });
    queuedBytes += cost;
    if (low.length + high.length >= o.batch) {
      if (!pumping) void pump(false);
      else join();
    }
    return true;
  }

  const costOf = (buf: Buffer): number => buf.length + format.perEntry + ENTRY_OVERHEAD;

  /** Moves spilled lines back into the queues, oldest first, as far as the cap has room. */
  function refill(): void {
    if (!spill || spill.entries === 0) return;
    let room = o.maxBytes - bodyReserve - pendingBytes();
    // With memory empty, a line nearly as large as the cap still goes (or it would never leave the file).
    let alone = pendingBytes() === 0;
    const fits = (l: SpilledLine): boolean => {
      const cost = costOf(l.buf);
      if (cost > room && !alone) return false;
      alone = false;
      room -= cost;
      return true;
    };
    // At most a round's worth a call: reading the file is synchronous, so each read stays short.
    const { lines, skipped } = spill.read(o.batch * o.concurrency, fits);
    drop('spill_corrupt', skipped);
    const oldest = o.now() - o.maxAge;
    for (const { buf, level, time } of lines) {
      if (time < oldest) {
        drop('age');
        continue;
      }
      const cost = costOf(buf);
      // Newer than every line in memory: while the spill holds lines, new ones go there too.
      (level < WARN ? low : high).push({ buf, level, time, cost, seq: ++written });
      queuedBytes += cost;
    }
  }

  function dropExpiredQueued(): void {
    const oldest = o.now() - o.maxAge;
    for (const q of [low, high]) while (q.length > 0 && q.peek()!.time < oldest) dropHead(q, 'age');
  }

  /** Lines of the waiting batches that grew too old are dropped (the rest is reassembled). */
  function dropExpiredBatches(): void {
    const oldest = o.now() - o.maxAge;
    for (const b of [...batches]) {
      if (b.inFlight) continue;
      const keep = b.entries.filter((e) => e.time >= oldest);
      if (keep.length === b.entries.length) continue;
      drop('age', b.entries.length - keep.length);
      rebuild(b, keep);
    }
  }

  /**
   * A batch the sink refused as too large (413: nginx's default body limit is 1 MiB) is sent again
   * as two halves, and later batches stay under half its size: its lines are delivered, not dropped
   * as rejected. Only a single line too large for the sink is refused for good.
   */
  function split(b: Batch): void {
    const entries = b.entries;
    const half = Math.ceil(entries.length / 2);
    largestAccepted = Math.min(largestAccepted, Math.max(1, Math.floor(b.body.length / 2)));
    rebuild(b, entries.slice(0, half));
    addBatch(entries.slice(half), b.failures, batches.indexOf(b) + 1);
  }

  /** `b` now holds only `keep` (in place: the batch keeps its place and its failures). */
  function rebuild(b: Batch, keep: Entry[]): void {
    if (keep.length === 0) return releaseBatch(b);
    const { body, entries } = assemble(format, keep);
    batchBytes -= b.cost;
    b.body = body;
    b.entries = entries;
    b.cost = body.length + entries.length * ENTRY_OVERHEAD;
    batchBytes += b.cost;
  }

  /** The oldest queued lines (both queues, by time), at most `batch` of them and within the cap. */
  function takeBatch(): void {
    const entries: Entry[] = [];
    let bytes = format.perBatch;
    while (entries.length < o.batch) {
      const l = low.peek();
      const h = high.peek();
      const q = l && (!h || l.seq < h.seq) ? low : h ? high : undefined;
      if (!q) break;
      const next = q.peek()!;
      if (entries.length > 0 && (bytes + next.cost > o.maxBytes || bytes + next.cost > largestAccepted)) break;
      q.shift();
      queuedBytes -= next.cost;
      bytes += next.cost;
      entries.push(next);
    }
    addBatch(entries, 0, batches.length);
  }

  /** A batch of `entries` at `at` in `batches`, counted against the cap. */
  function addBatch(entries: Entry[], failures: number, at: number): void {
    const { body, entries: viewed } = assemble(format, entries);
    const b: Batch = { body, entries: viewed, cost: body.length + viewed.length * ENTRY_OVERHEAD, failures, inFlight: false };
    batches.splice(at, 0, b);
    batchBytes += b.cost;
    // Loki's stream headers may take a little more than the lines did: queued lines make room.
    while (pendingBytes() > o.maxBytes && low.length + high.length > 0) dropHead(low.length > 0 ? low : high, 'cap');
  }

  function tick(): void {
    dropExpiredQueued();
    dropExpiredBatches();
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
   * Sends rounds of up to `concurrency` batches: full ones, or (all) whatever is queued. Failed
   * batches wait for their retry here, and an open breaker makes them wait for the probe (one batch),
   * so a dead sink costs one sleeping promise while writes only queue (and drop) within the cap.
   */
  function pump(all: boolean): Promise<void> {
    return (pumping ??= run(all).finally(() => (pumping = undefined)));
  }

  /** The batches of the round that is out, while it is (write() adds to it); requests not yet answered. */
  let current: Set<Batch> | undefined;
  const flying = new Set<Promise<void>>();

  /** Sends `b`; its answer is applied as it comes, not after the whole round: a batch answered but
   * not yet applied is no longer in flight and could otherwise be dropped for room though delivered. */
  function launch(b: Batch): void {
    const p = send(b).then((verdict) => {
      if (!stopped && held(b)) apply(verdict, b); // not after close() gave up, nor if dropped meanwhile
      flying.delete(p);
      // Its place goes to the next batch while the round has had no failure: the pipe stays full.
      if (consecutiveFailures === 0 && low.length + high.length >= (roundAll ? 1 : o.batch)) join();
    });
    flying.add(p);
  }

  /** Whether the round that is out sends partial batches too (a flush), or only full ones. */
  let roundAll = false;

  /** A batch joins the round that is out when there is a free place and the sink is up. */
  function join(): void {
    if (!current || state !== 'up' || closing || stopped || batches.length >= o.concurrency) return;
    takeBatch();
    const b = batches.at(-1)!;
    current.add(b);
    launch(b);
  }

  async function run(all: boolean): Promise<void> {
    roundAll = all;
    while (!stopped) {
      dropExpiredQueued();
      refill();
      // A full round only while the sink is up: a retry or a probe is not widened (but with every
      // batch dropped for room meanwhile, one is taken, or the queue would never move again).
      while (batches.length < (state === 'up' ? o.concurrency : 1)) {
        const queued = low.length + high.length;
        if (queued === 0 || (!all && queued < o.batch)) break;
        takeBatch();
      }
      if (batches.length === 0) return;
      if (state === 'down') {
        if (closing) return;
        await sleep(openUntil - o.now());
        if (stopped || closing) return; // close() woke it: a sink that is down gets no last attempt
        state = 'probing';
      }
      dropExpiredBatches();
      const round = new Set(batches.slice(0, state === 'probing' ? 1 : o.concurrency));
      if (round.size === 0) continue;
      for (const b of round) launch(b);
      // While the round is out and the sink is up, a batch that fills meanwhile joins it (write()).
      current = round;
      while (flying.size > 0) await Promise.all(flying);
      current = undefined;
      const retrying = [...round].filter(held);
      if (retrying.length > 0 && !closing) {
        if ((state as SinkState) !== 'down') {
          state = 'retrying';
          // The sink's Retry-After (429, 503) when it asks for longer than the backoff.
          await sleep(Math.max(backoff(Math.max(...retrying.map((b) => b.failures))), ...retrying.map((b) => b.retryAfter ?? 0)));
        }
      } else if (retrying.length > 0 && closing) {
        return; // one attempt per batch while closing; close() counts the rest
      }
    }
  }

  function apply(verdict: Verdict, current: Batch): void {
    const n = current.entries.length;
    if (verdict.kind !== 'ok' && (verdict.kind !== 'partial' || verdict.retry.length + verdict.rejected.length > 0))
      lastFailure = { reason: verdict.reason, at: Date.now() };
    if (verdict.kind === 'ok') {
      sent += n;
      releaseBatch(current);
      succeeded();
    } else if (verdict.kind === 'rejected' && verdict.status === 413 && n > 1) {
      split(current);
      succeeded(); // the sink answered: it is up, the batch was too large for it (a proxy's body limit)
    } else if (verdict.kind === 'rejected') {
      releaseBatch(current, 'rejected');
      succeeded(); // the sink answered: it is up, the lines were bad
    } else if (verdict.kind === 'partial') {
      const retry = new Set(verdict.retry);
      sent += n - verdict.retry.length - verdict.rejected.length;
      drop('rejected', verdict.rejected.length);
      succeeded();
      rebuild(
        current,
        current.entries.filter((_, i) => retry.has(i)),
      );
      if (held(current)) failed(current);
    } else {
      consecutiveFailures++;
      const probe = state === 'probing';
      if (consecutiveFailures >= o.breakerThreshold || probe) {
        state = 'down';
        openUntil = o.now() + Math.max(o.breakDuration, verdict.after ?? 0);
      }
      current.retryAfter = verdict.after;
      // A probe nobody answered says the sink is still down, nothing about the batch: while the
      // breaker is open lines only queue (within the cap), they do not run out of retries.
      if (!(probe && verdict.unreachable)) failed(current);
    }
  }

  function succeeded(): void {
    consecutiveFailures = 0;
    state = 'up';
  }

  /** One more failure of the batch; dropped as failed after `retries` retries. */
  function failed(b: Batch): void {
    b.failures++;
    if (b.failures > o.retries) releaseBatch(b, 'failed');
  }

  async function send(b: Batch): Promise<Verdict> {
    b.inFlight = true;
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    aborts.add(abort);
    // undici's timeouts cover connect, headers and body separately; this bounds the whole request.
    const timer = setTimeout(() => ac.abort(), o.timeout);
    timer.unref();
    let answered = false;
    try {
      const res = await request.call(client, { path, method: 'POST', headers, body: b.body, signal: ac.signal });
      answered = true;
      let verdict: Verdict;
      if (res.statusCode >= 200 && res.statusCode < 300) {
        verdict =
          format.name === 'elasticsearch' ? bulkVerdict(await readText(res.body, o.maxResponseBytes), b.entries.length) : { kind: 'ok' };
      } else {
        verdict = retryableStatus(res.statusCode)
          ? { kind: 'retry', reason: `status ${res.statusCode}`, after: retryAfterMs(res.headers['retry-after'], Date.now()) }
          : { kind: 'rejected', reason: `status ${res.statusCode}`, status: res.statusCode };
      }
      if (format.name !== 'elasticsearch' || verdict.kind === 'retry' || verdict.kind === 'rejected')
        await res.body.dump({ limit: 64 * 1024 });
      requests[verdict.kind === 'retry' ? 'error' : verdict.kind]++;
      return verdict;
    } catch (err) {
      const outcome = outcomeOf(err, ac.signal.aborted);
      requests[outcome]++;
      return { kind: 'retry', reason: (err as Error).message, unreachable: outcome !== 'error' || (!answered && connectionLost(err)) };
    } finally {
      clearTimeout(timer);
      b.inFlight = false;
      aborts.delete(abort);
    }
  }

  function stats(): LogShipStats {
    return {
      produced,
      sent,
      dropped: { ...dropped },
      pendingEntries: low.length + high.length + batches.reduce((n, b) => n + b.entries.length, 0) + (spill?.entries ?? 0),
      pendingBytes: pendingBytes(),
      maxBytes: o.maxBytes,
      requests: { ...requests },
      sinkState: stopped ? 'closed' : state,
      lastFailure: lastFailure && { ...lastFailure },
      format: o.format,
      ...(spill && {
        spill: {
          entries: spill.entries,
          bytes: spill.pendingBytes,
          maxBytes: spill.maxBytes,
          spilled: spill.spilled,
          readBack: spill.readBack,
          refused: spill.refused,
          orphansRemoved: spill.orphansRemoved,
        },
      }),
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
    for (const abort of aborts) abort();
    wake?.();
    for (const b of [...batches]) releaseBatch(b, 'close');
    for (const q of [low, high]) {
      for (const e of q.drain()) {
        queuedBytes -= e.cost;
        drop('close');
      }
    }
    if (spill) drop('close', spill.close());
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

/** Why no spill file can be made in `dir`, in words (`err`: what creating it threw). */
export const spillDirProblem = (err: unknown, dir: string): string =>
  `${fsReason(err, dir, true)}: no spill file can be made there; give a writable directory, or leave it unset (no spill)`;

/** The spill file, or a configuration error naming the directory when it cannot be created there. */
function openSpill(dir: string, maxBytes: number, maxLineBytes: number): SpillFile {
  try {
    return new SpillFile(dir, maxBytes, maxLineBytes);
  } catch (err) {
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `createLogShipper: spillDir=${JSON.stringify(dir)}: ${spillDirProblem(err, dir)}`, {
      cause: err,
    });
  }
}

function outcomeOf(err: unknown, aborted: boolean): RequestOutcome {
  const code = (err as { code?: string }).code;
  if (aborted || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) return 'timeout';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED') return 'refused';
  return 'error';
}

/** Connection errors (not answers): a sink that resets or cannot be found is as unreachable as one that refuses. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
function connectionLost(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  // undici says a reset as a SocketError; other SocketErrors are answers it would not take.
  return CONNECTION_LOST.has(e.code ?? '') || (e.code === 'UND_ERR_SOCKET' && e.message === 'other side closed');
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
  if (format === 'elasticsearch' && !u.searchParams.has('filter_path'))
    u.searchParams.set('filter_path', 'errors,items.*.status,items.*.error.type,items.*.error.reason');
  return `${u.pathname}${u.search}`;
}
