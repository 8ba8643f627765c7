// The Redis L2 store and the invalidation bus, loaded only when a cache is given a Redis URL:
// ioredis and its dependencies cost ~7 MiB of RSS in an idle gateway that has no Redis
// (bench/footprint), so neither tiered.ts nor anything it loads at start-up imports them.
// createCache() is synchronous, so the store and the bus are created as soon as their modules
// have loaded, a few milliseconds later: a call made meanwhile waits for them (as it would wait
// for the first connection), and the bus drops what is published before then, as it drops what
// is published while Redis is not connected.
import type { Readable } from 'node:stream';
import type { Bus, BusMessage, BusOptions } from '../bus.js';
import { idleBusStats, type BusStats } from '../bus-stats.js';
import type { Encoded, Meta } from '../codec.js';
import type { GenClient } from '../generations.js';
import type { RedisClient, RedisStore, RedisStoreOptions } from './redis.js';
import { resolveStoreOptions } from '../options.js';
import { storeFailure, type L2Store, type StoreStats, type StoreStreamEntry } from './types.js';

/** The bus as the tiered cache uses it. */
export interface BusHandle {
  readonly connected: boolean;
  stats(): BusStats;
  publish(m: BusMessage): void;
  close(): Promise<void>;
}

export interface LazyRedis {
  /** `client`: the store's ioredis client once loaded (as RedisStore.client); `generationClient` as RedisStore's. */
  store: L2Store & { readonly client: RedisClient | undefined; readonly generationClient: GenClient | undefined };
  bus: BusHandle;
}

const ignore = (): void => undefined;
const NOT_CONNECTED: StoreStats = { bytes: 0, entries: 0, errors: 0, corrupt: 0, evictions: 0, connected: false, keyCount: null };

/** `busOptions`: everything but the publisher (the store's client) and the subscriber (a connection the store makes). */
export function createLazyRedis(storeOptions: RedisStoreOptions, busOptions: Omit<BusOptions, 'publisher' | 'subscriber'>): LazyRedis {
  let store: RedisStore | undefined;
  let bus: Bus | undefined;
  let closed = false;
  const ready: Promise<RedisStore> = Promise.all([import('./redis.js'), import('../bus.js')]).then(
    ([redis, busModule]) => {
      // Closed while loading: no connection is opened at all.
      if (closed) throw new Error('the cache was closed before its Redis store had loaded');
      store = new redis.RedisStore(storeOptions);
      bus = new busModule.Bus({
        ...busOptions,
        publisher: store.publisher,
        subscriber: store.subscriber(),
        quitTimeout: store.quitTimeout,
      });
      return store;
    },
    (err: unknown) => {
      throw storeFailure('redis', err);
    },
  );
  // A failed load is reported by each call that waits for the store (and counted by the cache).
  ready.catch(() => undefined);
  const { commandTimeout } = resolveStoreOptions('redis', storeOptions);
  /**
   * The store, for one call: waited for commandTimeout at most from the call (RedisStore waits as
   * long for its first connection), then a store failure, which the cache counts and skips L2 for.
   */
  const loaded = (): Promise<RedisStore> =>
    store !== undefined
      ? Promise.resolve(store)
      : new Promise<RedisStore>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(storeFailure('redis', new Error(`the store was not ready within commandTimeout (${commandTimeout} ms)`))),
            commandTimeout,
          );
          timer.unref();
          ready.then(
            (s) => {
              clearTimeout(timer);
              resolve(s);
            },
            (err: unknown) => {
              clearTimeout(timer);
              reject(err as Error);
            },
          );
        });

  const lazyStore: LazyRedis['store'] = {
    kind: 'redis',
    get client() {
      return store?.client;
    },
    get generationClient() {
      return store?.generationClient;
    },
    get: (key: string): Promise<Encoded | undefined> => loaded().then((s) => s.get(key)),
    set: (key: string, entry: Encoded): Promise<void> => loaded().then((s) => s.set(key, entry)),
    getStream: (key: string): Promise<StoreStreamEntry | undefined> => loaded().then((s) => s.getStream(key)),
    setStream: async (key: string, readable: Readable, meta: Meta, size?: number): Promise<number> => {
      // As storeOp does: the source may fail while the store loads, before anyone reads it.
      readable.on('error', ignore);
      try {
        const s = await loaded();
        return await s.setStream(key, readable, meta, size);
      } finally {
        readable.off('error', ignore);
      }
    },
    delete: (key: string): Promise<void> => loaded().then((s) => s.delete(key)),
    invalidateByTag: (tag: string): Promise<void> => loaded().then((s) => s.invalidateByTag(tag)),
    clear: (): Promise<void> => loaded().then((s) => s.clear()),
    sweep: (): Promise<void> => loaded().then((s) => s.sweep()),
    stats: (): StoreStats => store?.stats() ?? NOT_CONNECTED,
    close: async (): Promise<void> => {
      closed = true;
      await ready.catch(() => undefined);
      await store?.close();
    },
  };
  const busHandle: BusHandle = {
    get connected() {
      return bus?.connected ?? false;
    },
    stats: () => bus?.stats() ?? idleBusStats(),
    publish: (m) => bus?.publish(m),
    close: async () => {
      closed = true;
      await ready.catch(() => undefined);
      await bus?.close();
    },
  };
  return { store: lazyStore, bus: busHandle };
}
