// Real log sinks on 127.0.0.1 that speak Elasticsearch `_bulk`, Loki push and JSON lines, and
// misbehave on demand: black-holed (accept, never answer), slow, 5xx, partial `_bulk` errors.
// "Refusing" is a sink that is stopped (its port closed) and started again on the same port.
// bench/log-ship uses them too, with `keep: false` (count the lines, keep none).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { restartableServer } from '../helpers/restartable-server.js';

export type SinkMode =
  | { kind: 'ok' }
  | { kind: 'blackhole' }
  /** The connection is reset once the request has arrived: no answer. */
  | { kind: 'reset' }
  | { kind: 'slow'; ms: number }
  /** Each request is answered (as `ok`) when the test calls release(): in-flight counts without timing. */
  | { kind: 'held' }
  | { kind: 'status'; status: number; retryAfter?: string }
  /** A proxy's body limit in front of the sink: a larger request is answered 413, the rest as `ok`. */
  | { kind: 'limit'; maxBodyBytes: number }
  /** `_bulk` answers 200 with errors: true; lines whose `msg` matches get that item status. */
  | { kind: 'partial'; fail: (doc: Record<string, unknown>, attempt: number) => number | undefined };

export interface TestSink {
  url: string;
  port: number;
  /** Every line received and accepted (the JSON documents); stays empty with `keep: false`. */
  docs: Record<string, unknown>[];
  /** How many lines were accepted (with or without `keep`). */
  accepted: number;
  /** Loki: the stream labels seen. */
  streams: Record<string, string>[];
  requests: number;
  /** Requests being answered now, and the most at once so far. */
  inFlight: number;
  maxInFlight: number;
  mode: SinkMode;
  /** Requests held by a `held` sink, not answered yet. */
  held(): number;
  /** Answers the `n` oldest held requests (all by default). */
  release(n?: number): void;
  /** Closes the port (connections reset): the sink now refuses. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

const open = new Set<TestSink>();

/** Closes every sink still open (an after() hook: a failed test must not keep the run alive). */
export async function closeAllSinks(): Promise<void> {
  await Promise.all([...open].map((s) => s.close()));
}

export interface SinkOptions {
  /** Keep the accepted documents in `docs` (default true); false only counts them (long benchmarks). */
  keep?: boolean;
  /**
   * Loki with `unordered_writes: false` (before 2.4, or turned off): a push holding an entry older
   * than the newest accepted of its stream is refused with 400 "entry out of order".
   */
  ordered?: boolean;
}

export async function startSink(
  protocol: 'elasticsearch' | 'loki' | 'jsonl',
  mode: SinkMode = { kind: 'ok' },
  { keep = true, ordered = false }: SinkOptions = {},
): Promise<TestSink> {
  const attempts = new Map<string, number>();
  /** The answers a `held` sink owes, oldest first. */
  const waiting: (() => void)[] = [];
  /** ordered Loki: the newest timestamp accepted per stream (its labels as JSON). */
  const newest = new Map<string, bigint>();
  const sink: TestSink = {
    url: '',
    port: 0,
    docs: [],
    accepted: 0,
    streams: [],
    requests: 0,
    inFlight: 0,
    maxInFlight: 0,
    held: () => waiting.length,
    release: (n = Infinity) => {
      for (const answer of waiting.splice(0, n)) answer();
    },
    mode,
    stop,
    start,
    close: async () => {
      open.delete(sink);
      await stop();
    },
  };

  function accept(doc: Record<string, unknown>): void {
    sink.accepted++;
    if (keep) sink.docs.push(doc);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    sink.maxInFlight = Math.max(sink.maxInFlight, ++sink.inFlight);
    res.once('close', () => sink.inFlight--);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      sink.requests++;
      const m = sink.mode;
      if (m.kind === 'blackhole') return; // the request is read, the answer never comes
      if (m.kind === 'reset') return void req.socket.destroy();
      const body = Buffer.concat(chunks).toString('utf8');
      if (m.kind === 'limit' && Buffer.byteLength(body) > m.maxBodyBytes) {
        res.writeHead(413, { 'content-type': 'text/html' }).end('<html>413 Request Entity Too Large</html>');
        return;
      }
      const answer = (): void => {
        if (m.kind === 'status') {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (m.retryAfter !== undefined) headers['retry-after'] = m.retryAfter;
          res.writeHead(m.status, headers).end('{"error":"test"}');
          return;
        }
        if (protocol === 'elasticsearch') return bulk(body, res, m);
        if (protocol === 'loki') {
          const push = JSON.parse(body) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
          if (ordered && !inOrder(push.streams)) {
            res.writeHead(400, { 'content-type': 'text/plain' }).end('entry out of order');
            return;
          }
          for (const s of push.streams) {
            if (keep) sink.streams.push(s.stream);
            for (const [ts, line] of s.values) {
              if (!/^\d+$/.test(ts)) throw new Error(`bad Loki timestamp ${ts}`);
              accept(JSON.parse(line) as Record<string, unknown>);
            }
          }
          res.writeHead(204).end();
          return;
        }
        for (const line of body.split('\n').filter(Boolean)) accept(JSON.parse(line) as Record<string, unknown>);
        res.writeHead(200).end();
      };
      if (m.kind === 'slow') setTimeout(answer, m.ms);
      else if (m.kind === 'held') waiting.push(answer);
      else answer();
    });
  }

  /** Whether every entry is not older than its stream's newest so far (then they become the newest). */
  function inOrder(streams: { stream: Record<string, string>; values: [string, string][] }[]): boolean {
    const next = new Map(newest);
    for (const s of streams) {
      const key = JSON.stringify(s.stream);
      for (const [ts] of s.values) {
        const t = BigInt(ts);
        if (t < (next.get(key) ?? 0n)) return false;
        next.set(key, t);
      }
    }
    for (const [k, t] of next) newest.set(k, t);
    return true;
  }

  function bulk(body: string, res: ServerResponse, m: SinkMode): void {
    const lines = body.split('\n');
    if (lines.at(-1) !== '') throw new Error('_bulk body must end with a newline');
    lines.pop();
    const items: { create: { status: number; error?: { type: string } } }[] = [];
    let errors = false;
    for (let i = 0; i < lines.length; i += 2) {
      // `create` from headroom; `index` from pino-elasticsearch (the bench's baseline)
      const action = JSON.parse(lines[i]!) as { create?: { _index?: string }; index?: { _index?: string } };
      if (!(action.create ?? action.index)?._index) throw new Error(`bad _bulk action ${lines[i]}`);
      const doc = JSON.parse(lines[i + 1]!) as Record<string, unknown>;
      const key = String(doc.msg);
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      const status = m.kind === 'partial' ? (m.fail(doc, attempt) ?? 201) : 201;
      if (status >= 300) {
        errors = true;
        items.push({
          create: { status, error: { type: status === 429 ? 'es_rejected_execution_exception' : 'mapper_parsing_exception' } },
        });
      } else {
        items.push({ create: { status } });
        accept(doc);
      }
    }
    // x-elastic-product: the official client (pino-elasticsearch) refuses an answer without it
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' })
      .end(JSON.stringify({ took: 1, errors, items }));
  }

  const server = restartableServer(handle);
  const path = protocol === 'elasticsearch' ? '/_bulk' : protocol === 'loki' ? '/loki/api/v1/push' : '/ingest';

  async function start(): Promise<void> {
    await server.start();
    sink.port = server.port;
    sink.url = `http://127.0.0.1:${sink.port}${path}`;
  }

  function stop(): Promise<void> {
    return server.stop();
  }

  await start();
  open.add(sink);
  return sink;
}
