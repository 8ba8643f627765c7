// Invalidation bus over Redis pub/sub: every set, delete, tag invalidation and clear is published
// (keys and tags only, never values) so other instances drop their L1 copies. Subscribing needs a
// connection of its own; publishing reuses the store's connection.
// Pub/sub is at-most-once: each message carries its sender's id, a sequence number and the time it
// was sent, so a receiver sees a lost message as a gap in that sender's sequence (then calls onGap:
// its L1 can no longer be trusted) and measures how late messages arrive.
import { randomUUID } from 'node:crypto';
import { quitOrDisconnect, type RedisClient } from './stores/redis-client.js';
import { LAG_BUCKETS_SECONDS, type BusFaults, type BusStats } from './bus-stats.js';

/** `g`: the tag's (or the clear's) new generation token in Redis, when the sender set one. */
export type BusMessage = { op: 'del'; keys: string[] } | { op: 'tag'; tag: string; g?: string } | { op: 'clear'; g?: string };

/** A message as sent: the sender's id, its sequence number (from 1) and when it was sent (ms since the epoch). */
export type Envelope = BusMessage & { i?: string; s?: number; t?: number };

/** Bounds of an accepted message; anything else on the channel is dropped and counted. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_KEYS = 1000;
const MAX_TOKEN = 64;
/** Senders whose sequence is followed; the longest-silent one is forgotten first. */
export const MAX_SENDERS = 1024;

const isName = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** The message when it has a known shape within bounds, else undefined (the channel is not trusted). */
export function parseMessage(raw: string): Envelope | undefined {
  if (raw.length > MAX_MESSAGE_BYTES) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const o = m as Record<string, unknown>;
  if (o.i !== undefined && typeof o.i !== 'string') return undefined;
  if (o.s !== undefined && !isCount(o.s)) return undefined;
  if (o.t !== undefined && !isCount(o.t)) return undefined;
  if (o.g !== undefined && !(typeof o.g === 'string' && o.g.length <= MAX_TOKEN)) return undefined;
  const head = { i: o.i as string | undefined, s: o.s as number | undefined, t: o.t as number | undefined };
  const g = o.g as string | undefined;
  if (o.op === 'clear') return { op: 'clear', g, ...head };
  if (o.op === 'tag' && isName(o.tag) && o.tag !== '') return { op: 'tag', tag: o.tag, g, ...head };
  if (o.op === 'del' && Array.isArray(o.keys) && o.keys.length <= MAX_KEYS && o.keys.every(isName))
    return { op: 'del', keys: o.keys as string[], ...head };
  return undefined;
}

/** What the bus publishes through: a client, or the store's wrapper that keeps PUBLISH within its cap. */
export interface BusPublisher {
  readonly status: string;
  publish(channel: string, message: string): Promise<unknown>;
}

export interface BusOptions {
  publisher: BusPublisher;
  /** Its own connection (a cluster's or Sentinel's too, see redis-client.ts), closed by the bus. */
  subscriber: RedisClient;
  channel: string;
  onMessage: (m: BusMessage) => void;
  /** Called when the subscriber reconnects after a drop (messages may have been missed). */
  onResync: () => void;
  /** Called when a sender's sequence shows that `missing` of its messages never arrived. */
  onGap?: (missing: number) => void;
  onError: (err: Error) => void;
  faults?: BusFaults;
  /** How long close() waits for the subscriber's QUIT before dropping it (default QUIT_TIMEOUT). */
  quitTimeout?: number;
}

export class Bus {
  readonly id = randomUUID();
  private seq = 0;
  private sent = 0;
  private sendErrors = 0;
  private received = 0;
  private dropped = 0;
  private gaps = 0;
  private malformed = 0;
  private reconnects = 0;
  private lastLag: number | null = null;
  private maxLag: number | null = null;
  private readonly lagBuckets = new Array<number>(LAG_BUCKETS_SECONDS.length).fill(0);
  private lagSum = 0;
  private lagCount = 0;
  /** Last sequence number seen per sender, in order of last arrival (oldest first). */
  private readonly senders = new Map<string, number>();
  private readonly sub: RedisClient;
  private wasReady = false;
  private disconnected = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: BusOptions) {
    // The subscriber keeps ioredis's offline queue so SUBSCRIBE waits for the first connection.
    this.sub = o.subscriber;
    this.sub.on('error', o.onError);
    this.sub.on('ready', () => {
      if (this.wasReady && this.disconnected) {
        // What senders sent meanwhile is lost: their next messages show it as gaps (counted).
        this.reconnects++;
        o.onResync();
        // A new connection is subscribed to nothing (ioredis's autoResubscribe is off: see redis-client.ts).
        this.subscribe();
      }
      this.wasReady = true;
      this.disconnected = false;
    });
    this.sub.on('close', () => {
      if (this.wasReady) this.disconnected = true;
    });
    this.sub.on('message', (_channel: string, raw: string) => this.receive(raw));
    this.subscribe();
  }

  /** A failure (the connection dropped before the reply) is reported; the next 'ready' subscribes again. */
  private subscribe(): void {
    if (this.closing === undefined) this.sub.subscribe(this.o.channel).catch(this.o.onError);
  }

  get connected(): boolean {
    return this.sub.status === 'ready';
  }

  publish(m: BusMessage): void {
    // Peers refuse a del of more than MAX_KEYS keys (as malformed, which is no gap): sent in slices.
    if (m.op === 'del' && m.keys.length > MAX_KEYS) {
      for (let i = 0; i < m.keys.length; i += MAX_KEYS) this.publish({ op: 'del', keys: m.keys.slice(i, i + MAX_KEYS) });
      return;
    }
    // Numbered even when it cannot go out: peers then see the gap at the next message that does.
    const s = ++this.seq;
    this.sent++;
    if (this.o.publisher.status !== 'ready') {
      this.sendErrors++;
      return;
    }
    const head = { i: this.id, s, t: Date.now() };
    let raw = JSON.stringify({ ...head, ...m });
    // Peers drop oversized messages; a key that long makes them clear L1 instead (safe, rare).
    if (raw.length > MAX_MESSAGE_BYTES) raw = JSON.stringify({ ...head, op: 'clear' });
    this.o.publisher.publish(this.o.channel, raw).catch((err: Error) => {
      this.sendErrors++;
      this.o.onError(err);
    });
  }

  stats(): BusStats {
    let acc = 0;
    const cumulative = this.lagBuckets.map((n) => (acc += n));
    return {
      connected: this.connected,
      sent: this.sent,
      sendErrors: this.sendErrors,
      received: this.received,
      dropped: this.dropped,
      gaps: this.gaps,
      malformed: this.malformed,
      reconnects: this.reconnects,
      lag: {
        lastMs: this.lastLag,
        maxMs: this.maxLag,
        histogram: { boundsSeconds: LAG_BUCKETS_SECONDS, cumulative, sum: this.lagSum, count: this.lagCount },
      },
    };
  }

  private receive(raw: string): void {
    const m = parseMessage(raw);
    if (m === undefined) {
      this.malformed++;
      return;
    }
    if (m.i === this.id) return;
    if (this.o.faults?.dropIncoming()) return;
    this.received++;
    if (m.t !== undefined) this.observeLag(Date.now() - m.t);
    if (m.i !== undefined && m.s !== undefined) this.follow(m.i, m.s);
    this.o.onMessage(m);
  }

  /**
   * A sender's next number is its last + 1; more means messages were lost. A sender heard for the
   * first time with a number above 1 may have sent something before it that was lost, or before
   * we subscribed: not counted, but L1 revalidates (safe, and rare: once per peer).
   */
  private follow(sender: string, s: number): void {
    const last = this.senders.get(sender);
    this.senders.delete(sender);
    if (this.senders.size >= MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
    this.senders.set(sender, Math.max(last ?? 0, s));
    if (last === undefined) {
      if (s > 1) this.o.onGap?.(0);
      return;
    }
    // s <= last: a repeat or an older message (harmless: invalidating twice changes nothing).
    if (s > last + 1) {
      const missing = s - last - 1;
      this.dropped += missing;
      this.gaps++;
      this.o.onGap?.(missing);
    }
  }

  private observeLag(ms: number): void {
    const lag = Math.max(0, ms);
    this.lastLag = lag;
    if (this.maxLag === null || lag > this.maxLag) this.maxLag = lag;
    this.lagSum += lag / 1000;
    this.lagCount++;
    const i = LAG_BUCKETS_SECONDS.findIndex((b) => lag / 1000 <= b);
    if (i >= 0) this.lagBuckets[i]!++;
  }

  /** Quits the subscriber connection; a second call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.sub.removeAllListeners('message');
      await quitOrDisconnect(this.sub, this.o.quitTimeout);
    })();
    return this.closing;
  }
}
