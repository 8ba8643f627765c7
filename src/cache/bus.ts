// Invalidation bus over Redis pub/sub: every set, delete, tag invalidation and clear is published
// (keys and tags only, never values) so other instances drop their L1 copies. Subscribing needs a
// connection of its own; publishing reuses the store's connection.
import { randomUUID } from 'node:crypto';
import { quitOrDisconnect, type RedisClient } from './stores/redis-client.js';

export type BusMessage = { op: 'del'; keys: string[] } | { op: 'tag'; tag: string } | { op: 'clear' };

/** Bounds of an accepted message; anything else on the channel is dropped and counted. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_KEYS = 1000;

const isName = (v: unknown): v is string => typeof v === 'string';

/** The message when it has a known shape within bounds, else undefined (the channel is not trusted). */
export function parseMessage(raw: string): (BusMessage & { i?: string }) | undefined {
  if (raw.length > MAX_MESSAGE_BYTES) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const o = m as Record<string, unknown>;
  const i = typeof o.i === 'string' ? o.i : undefined;
  if (o.i !== undefined && i === undefined) return undefined;
  if (o.op === 'clear') return { op: 'clear', i };
  if (o.op === 'tag' && isName(o.tag) && o.tag !== '') return { op: 'tag', tag: o.tag, i };
  if (o.op === 'del' && Array.isArray(o.keys) && o.keys.length <= MAX_KEYS && o.keys.every(isName))
    return { op: 'del', keys: o.keys as string[], i };
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
  onError: (err: Error) => void;
}

export class Bus {
  readonly id = randomUUID();
  received = 0;
  published = 0;
  /** Messages on the channel that were malformed or out of bounds (ignored). */
  dropped = 0;
  private readonly sub: RedisClient;
  private wasReady = false;
  private disconnected = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: BusOptions) {
    // The subscriber keeps ioredis's offline queue so SUBSCRIBE waits for the first connection.
    this.sub = o.subscriber;
    this.sub.on('error', o.onError);
    this.sub.on('ready', () => {
      if (this.wasReady && this.disconnected) o.onResync();
      this.wasReady = true;
      this.disconnected = false;
    });
    this.sub.on('close', () => {
      if (this.wasReady) this.disconnected = true;
    });
    this.sub.on('message', (_channel: string, raw: string) => this.receive(raw));
    this.sub.subscribe(o.channel).catch(o.onError);
  }

  get connected(): boolean {
    return this.sub.status === 'ready';
  }

  publish(m: BusMessage): void {
    if (this.o.publisher.status !== 'ready') return;
    this.published++;
    let raw = JSON.stringify({ i: this.id, ...m });
    // Peers drop oversized messages; a key that long makes them clear L1 instead (safe, rare).
    if (raw.length > MAX_MESSAGE_BYTES) raw = JSON.stringify({ i: this.id, op: 'clear' });
    this.o.publisher.publish(this.o.channel, raw).catch(this.o.onError);
  }

  private receive(raw: string): void {
    const m = parseMessage(raw);
    if (m === undefined) {
      this.dropped++;
      return;
    }
    if (m.i === this.id) return;
    this.received++;
    this.o.onMessage(m);
  }

  /** Quits the subscriber connection; a second call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.sub.removeAllListeners('message');
      await quitOrDisconnect(this.sub);
    })();
    return this.closing;
  }
}
