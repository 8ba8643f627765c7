// Delivery to one webhook, in the background: a queue bounded in count and bytes, one request at
// a time with a timeout over the whole request, retries with jittered backoff, and counters. A
// receiver that is down or slow costs the queue's bound and one sleeping promise, nothing more.
// undici's Client, loaded by module path as the log shipper does (src/log/undici-client.d.ts).
import Client from 'undici/lib/dispatcher/client.js';
import request from 'undici/lib/api/api-request.js';
import { Deque } from '../../log/deque.js';
import { backoffDelay, bounded, retryableStatus, retryAfterMs } from '../../log/retry.js';
import { sign, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signature.js';
import type { AlertDropReason } from './types.js';

export interface DeliveryCounters {
  attempts: number;
  sent: number;
  failed: number;
  dropped: Record<AlertDropReason, number>;
}

export interface WebhookOptions {
  url: URL;
  authorization: string | undefined;
  hmacSecret: string | undefined;
  timeout: number;
  retries: number;
  retryDelay: number;
  maxRetryDelay: number;
  queueSize: number;
  queueBytes: number;
  counters: DeliveryCounters;
  now: () => number;
  random: () => number;
  /** Told once per notification given up (not per failed attempt). */
  onFailure: (why: string) => void;
}

interface Message {
  body: Buffer;
  failures: number;
  /** The receiver's Retry-After on the latest failure, ms (Slack answers 429 with one). */
  retryAfter?: number;
}

export interface Webhook {
  /** Queues a body; drops the oldest waiting one(s) when the bounds are reached. Never blocks. */
  send(body: Buffer): void;
  /** Messages queued or in flight, their bytes, and whether the oldest waits for a retry's delay (0 or 1). */
  pending(): { count: number; bytes: number; retrying: number };
  /** Resolves when the queue is empty (each message ends after its retries). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createWebhook(o: WebhookOptions): Webhook {
  const client = new Client(o.url.origin, {
    connect: { timeout: o.timeout },
    headersTimeout: o.timeout,
    bodyTimeout: o.timeout,
    keepAliveTimeout: 4000,
    pipelining: 1,
  });
  const path = `${o.url.pathname}${o.url.search}`;
  /** Messages not yet tried, oldest first. */
  const queue = new Deque<Message>();
  /** The oldest message: in a request (`inRequest`) or waiting for its retry. */
  let current: Message | undefined;
  let inRequest = false;
  /** Bytes of the queue and `current`. */
  let bytes = 0;
  let pumping: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let abortInFlight: (() => void) | undefined;
  let closing = false;
  let stopped = false;
  /** Why the latest attempt failed, for the log. */
  let lastError = '';

  const count = (): number => queue.length + (current ? 1 : 0);

  /** Drops the oldest message not in a request: `current` while it waits for a retry, else the queue's head. */
  function dropOldest(): boolean {
    if (current && !inRequest) {
      bytes -= current.body.length;
      current = undefined;
      wake?.(); // the retry wait is for nothing now
    } else if (queue.length > 0) {
      bytes -= queue.shift()!.body.length;
    } else return false;
    o.counters.dropped.queue_full++;
    return true;
  }

  function send(body: Buffer): void {
    if (closing) {
      o.counters.dropped.close++;
      return;
    }
    if (body.length > o.queueBytes) {
      o.counters.dropped.queue_full++; // could never fit: do not empty the queue for it
      return;
    }
    while (count() + 1 > o.queueSize || bytes + body.length > o.queueBytes) {
      if (!dropOldest()) {
        o.counters.dropped.queue_full++; // only the message in a request is left, and the new one does not fit
        return;
      }
    }
    queue.push({ body, failures: 0 });
    bytes += body.length;
    pumping ??= run().finally(() => (pumping = undefined));
  }

  function finish(m: Message): void {
    if (current !== m) return;
    bytes -= m.body.length;
    current = undefined;
  }

  async function run(): Promise<void> {
    while (!stopped) {
      current ??= queue.shift();
      const m = current;
      if (!m) return;
      inRequest = true;
      const outcome = await attempt(m);
      inRequest = false;
      if (stopped) return;
      if (outcome === 'ok') {
        o.counters.sent++;
        finish(m);
      } else if (outcome !== 'retry' || ++m.failures > o.retries || closing) {
        // A 4xx, the retries used up, or closing (one attempt each then): given up.
        o.counters.failed++;
        o.onFailure(
          outcome === 'retry'
            ? `still failing after ${m.failures} ${m.failures === 1 ? 'attempt' : 'attempts'} (last: ${lastError})`
            : outcome,
        );
        finish(m);
      } else {
        // The receiver's Retry-After when it asks for longer than the backoff: retrying a rate
        // limit sooner only earns another 429.
        await sleep(Math.max(backoffDelay(m.failures, o.retryDelay, o.maxRetryDelay, o.random), m.retryAfter ?? 0));
      }
    }
  }

  async function attempt(m: Message): Promise<'ok' | 'retry' | string> {
    o.counters.attempts++;
    const ac = new AbortController();
    abortInFlight = () => ac.abort();
    // undici's timeouts cover connect, headers and body separately; this bounds the whole request.
    const timer = setTimeout(() => ac.abort(), o.timeout);
    timer.unref();
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'headroom-alerts' };
    if (o.authorization) headers.authorization = o.authorization;
    if (o.hmacSecret) {
      // Signed at each attempt: a retry carries the time it is sent at, so it stays within the
      // receiver's replay window however long the backoff was.
      const ts = Math.floor(o.now() / 1000);
      headers[TIMESTAMP_HEADER] = String(ts);
      headers[SIGNATURE_HEADER] = sign(o.hmacSecret, ts, m.body);
    }
    try {
      const res = await request.call(client, { path, method: 'POST', headers, body: m.body, signal: ac.signal });
      await res.body.dump({ limit: 64 * 1024 });
      if (res.statusCode >= 200 && res.statusCode < 300) return 'ok';
      lastError = `status ${res.statusCode}`;
      m.retryAfter = retryAfterMs(res.headers['retry-after'], o.now());
      return retryableStatus(res.statusCode) ? 'retry' : `refused with status ${res.statusCode}`;
    } catch (err) {
      // A code (ECONNREFUSED, UND_ERR_…), never the message: it could carry the URL, a secret.
      lastError = ac.signal.aborted ? 'timeout' : ((err as { code?: string }).code ?? 'error');
      m.retryAfter = undefined;
      return 'retry';
    } finally {
      clearTimeout(timer);
      abortInFlight = undefined;
    }
  }

  /** Waits `ms` (or until close() wakes it); the timer never keeps the process alive. */
  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(end, ms);
      timer.unref();
      function end(): void {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = end;
    });
  }

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    wake?.(); // a retry wait ends now: the queued messages get one last try within the timeout
    await bounded(pumping ?? Promise.resolve(), o.timeout);
    stopped = true;
    abortInFlight?.();
    wake?.();
    if (current) queue.push(current); // counted with the rest (it is never pushed back to run)
    current = undefined;
    for (const m of queue.drain()) {
      bytes -= m.body.length;
      o.counters.dropped.close++;
    }
    await pumping;
    await client.destroy();
  }

  return {
    send,
    pending: () => ({ count: count(), bytes, retrying: current && !inRequest ? 1 : 0 }),
    flush: async () => {
      while (pumping) await pumping;
    },
    close: () => (closed ??= close()),
  };
}
