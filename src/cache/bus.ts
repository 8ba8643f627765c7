// Invalidation bus over Redis pub/sub: every set, delete, tag invalidation and clear is published
// (keys and tags only, never values) so other instances drop their L1 copies. Subscribing needs a
// connection of its own; publishing reuses the store's connection.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { quitOrDisconnect } from './stores/redis.js';

export type BusMessage = { op: 'del'; keys: string[] } | { op: 'tag'; tag: string } | { op: 'clear' };

export interface BusOptions {
  publisher: Redis;
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
  private readonly sub: Redis;
  private wasReady = false;
  private dropped = false;

  constructor(private readonly o: BusOptions) {
    // The subscriber keeps ioredis's offline queue so SUBSCRIBE waits for the first connection.
    this.sub = o.publisher.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true });
    this.sub.on('error', o.onError);
    this.sub.on('ready', () => {
      if (this.wasReady && this.dropped) o.onResync();
      this.wasReady = true;
      this.dropped = false;
    });
    this.sub.on('close', () => {
      if (this.wasReady) this.dropped = true;
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
    this.o.publisher.publish(this.o.channel, JSON.stringify({ i: this.id, ...m })).catch(this.o.onError);
  }

  private receive(raw: string): void {
    let m: (BusMessage & { i?: string }) | undefined;
    try {
      m = JSON.parse(raw) as BusMessage & { i?: string };
    } catch {
      return;
    }
    if (m.i === this.id) return;
    this.received++;
    this.o.onMessage(m);
  }

  async close(): Promise<void> {
    this.sub.removeAllListeners('message');
    await quitOrDisconnect(this.sub);
  }
}
