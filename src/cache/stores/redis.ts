// Redis L2 (ioredis). Binary-safe: values are codec frames written and read as Buffers. Values up
// to chunkSize are one string key; larger ones are chunks in a hash of their own (one per write)
// and a small value hash pointing at it, switched in one script (atomic) and streamed back chunk by
// chunk; a reader keeps reading the chunks it started with (see redis-scripts.ts). TTLs become PX;
// tags are Redis sorted sets (an older headroom's plain sets are converted by the scripts).
// Failing fast is the point: no offline queue and a command timeout, so a dead Redis costs a
// caller microseconds, never a hang (the tiered cache adds a circuit breaker on top); every call
// is answered within commandTimeout and at most maxPending are in flight (redis-gate.ts). Only calls
// made while the first connection is being made wait for it, bounded in time (commandTimeout)
// and in number (MAX_WAITING), so a write right after start is not lost.
// One server, a Cluster or Sentinel (redis-client.ts). On a cluster every key of a cache has its
// prefix as hash tag ({prefix}v:key, {prefix}t:tag, …): the scripts below read and write a value,
// its tag sets, its chunks, the pending sets and the clear epoch together, and a script may only
// touch keys of one slot. So a cache lives on one shard; the cluster gives it failover, not room.
import { randomBytes, randomInt } from 'node:crypto';
import { Readable } from 'node:stream';
import { Cluster } from 'ioredis';
import {
  CorruptError,
  toBuffer,
  decodeFrame,
  decodeHeader,
  encodeFrame,
  encodeHeader,
  FLAG_CHUNKED,
  type Encoded,
  type Header,
  type Meta,
} from '../codec.js';
import { crc32 } from '../crc32.js';
import { keyPrefixOf, MAX_REDIS_CHUNK_SIZE, resolveStoreOptions, type RedisTopology } from '../options.js';
import { HeadroomError } from '../../errors.js';
import {
  ADD_CHUNK,
  BEGIN_CHUNKED,
  BUMP_EPOCH,
  COMMIT_CHUNKED,
  DELETE_ENTRY,
  DELETE_IF_CHUNKS,
  DETACH_TAG,
  DRAIN_TAG,
  GET_ENTRY,
  SET_TAGGED,
} from './redis-scripts.js';
import {
  closedStoreOp,
  MAX_GET_BYTES,
  storeFailure,
  storeOp,
  writeEndedBy,
  type L2Store,
  type StoreStats,
  type StoreStreamEntry,
} from './types.js';
import type { RedisOptions } from '../types.js';
import { clientNodes, createRedisClient, QUIT_TIMEOUT, quitOrDisconnect, type RedisClient } from './redis-client.js';
import { Gate } from './redis-gate.js';
import { hashSlot } from './redis-slot.js';
import type { BusPublisher } from '../bus.js';
import type { GenClient } from '../generations.js';

export { DISCONNECT_TIMEOUT, quitOrDisconnect, type RedisClient } from './redis-client.js';

/** createCache's `redis` (src/cache/types.ts), and the cache's hook. */
export interface RedisStoreOptions extends RedisOptions {
  onReady?: () => void;
  /** Where the store reports what it repaired (the cache's logger.warn). */
  onWarn?: (fields: Record<string, unknown>, message: string) => void;
}

type Reply = Buffer | [Buffer | null, Buffer | null] | number | null;
interface Scripts {
  hrAddChunk(key: string, field: string, chunk: Buffer): Promise<number>;
  hrDetachTag(tagKey: string, detached: string, pending: string): Promise<number | string>;
  hrDrainTag(detached: string, valuePrefix: string, batch: number, linger: number): Promise<number>;
  hrGetEntryBuffer(n: number, key: string, maxFrameBytes: number): Promise<Reply>;
  hrCommitChunked(n: number, ...args: (string | number | Buffer)[]): Promise<number | string[]>;
  hrDeleteEntry(key: string, pending: string, linger: number): Promise<number>;
  hrDeleteIfChunks(vkey: string, ckey: string): Promise<number>;
}

/** Chunks being written expire by themselves if the writer dies before the commit. */
const TEMP_TTL = 600_000;
/**
 * Longest string at a value key that may be a frame: the largest chunk size any instance may be
 * configured with (a frame's payload is at most its writer's chunk size), plus room for the header.
 */
const MAX_FRAME_BYTES = MAX_REDIS_CHUNK_SIZE + 1024 * 1024;
/** Chunks of a replaced or deleted value stay this long for readers still streaming them. */
export const CHUNK_LINGER = 60_000;
/** SCAN calls (of COUNT 1000) per sweep when counting keys. */
const SWEEP_SCAN_CALLS = 20;
/** Members deleted per script call when a tag is invalidated. */
export const INVALIDATE_BATCH = 500;
/** Most calls waiting for the first connection at once; more fail at once (counted by the cache). */
export const MAX_WAITING = 1000;

/** "; last error: …" for a message, with what a cluster's "Failed to refresh slots cache" hides (ioredis's lastNodeError). */
function lastErrorOf(err: Error | undefined): string {
  if (!err) return '';
  const node = (err as Error & { lastNodeError?: unknown }).lastNodeError;
  return `; last error: ${err.message}${node instanceof Error ? ` (${node.message})` : ''}`;
}

export class RedisStore implements L2Store {
  readonly kind = 'redis' as const;
  readonly client: RedisClient;
  readonly topology: RedisTopology;
  readonly prefix: string;
  /** A new connection for the invalidation bus (its owner closes it). */
  readonly subscriber: () => RedisClient;
  /** The bus's PUBLISH, on this client and within the same cap and deadline (refused: dropped, as pub/sub may drop). */
  readonly publisher: BusPublisher;
  /** The generations' MGET and SET (generations.ts), within the same cap and deadline as every call. */
  readonly generationClient: GenClient;
  /** How long close() waits for QUIT (the bus subscriber's too): commandTimeout, within 100 ms..QUIT_TIMEOUT. */
  readonly quitTimeout: number;
  private readonly gate: Gate;
  /** Cluster: the slot of every key of this cache, for stats. */
  private readonly slot: number | undefined;
  private readonly chunkSize: number;
  private readonly scripts: Scripts;
  private readonly onWarn: RedisStoreOptions['onWarn'];
  private errors = 0;
  private corrupt = 0;
  private keyCount: number | null = null;
  private countCursor = '0';
  private counted = 0;
  private closing: Promise<void> | undefined;
  /** Operations called and not yet answered; close() waits for them (each is answered by commandTimeout). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Sources streamed writes are reading: close() destroys them, as a next chunk may never come. */
  private readonly sources = new Set<Readable>();
  /** Pending until the first connection is ready, or commandTimeout has passed, or close(). */
  private connecting: Promise<void> | undefined;
  private stopConnecting: () => void = () => undefined;
  private waiting = 0;
  private readonly connectWait: number;
  /** Set when the server refused the configuration (a database it does not have): every call fails with it. */
  private refusal: Error | undefined;
  /** The client's latest error, named when the first connection is not made in time (it says why). */
  private lastError: Error | undefined;

  constructor(o: RedisStoreOptions) {
    const v = resolveStoreOptions('redis', o);
    const { chunkSize, commandTimeout } = v;
    const created = createRedisClient(v);
    this.topology = created.topology;
    this.client = created.client;
    this.subscriber = created.subscriber;
    this.prefix = keyPrefixOf(v);
    if (this.topology === 'cluster') this.slot = hashSlot(this.epochKey);
    this.chunkSize = chunkSize;
    this.gate = new Gate(v.maxPending, commandTimeout);
    const client = this.client;
    const gate = this.gate;
    this.publisher = {
      get status() {
        return client.status;
      },
      publish: (channel, message) => gate.run(() => client.publish(channel, message)),
    };
    this.generationClient = {
      get status() {
        return client.status;
      },
      mget: (...keys) => gate.run(() => (this.refusal ? Promise.reject(this.refusal) : client.mget(...keys))),
      set: (key, value, px, ms) => gate.run(() => (this.refusal ? Promise.reject(this.refusal) : client.set(key, value, px, ms))),
    };
    this.connectWait = commandTimeout;
    this.quitTimeout = Math.min(Math.max(commandTimeout, 100), QUIT_TIMEOUT);
    this.onWarn = o.onWarn;
    this.connecting = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        // Said once at start: without it an unreachable Redis shows only at the first cache call.
        // Calls waiting now fail with the same words, and their failure is logged by the cache.
        if (this.client.status !== 'ready' && this.waiting === 0)
          this.onWarn?.(
            { status: this.client.status, error: this.lastError?.message },
            `cache: redis not connected ${commandTimeout} ms after start (status ${this.client.status}${lastErrorOf(this.lastError)}): the cache serves from L1 alone and keeps trying`,
          );
        this.stopConnecting();
      }, commandTimeout);
      timer.unref();
      this.stopConnecting = () => {
        clearTimeout(timer);
        this.client.off('ready', this.stopConnecting);
        resolve();
      };
      this.client.on('ready', this.stopConnecting);
    });
    // Registered before any waiter, so it runs first: waiters go on in call order, later calls after them.
    void this.connecting.then(() => (this.connecting = undefined));
    this.client.on('error', (err: Error) => {
      this.errors++;
      this.lastError = err;
      // ioredis goes on in database 0 when SELECT is refused: every value would land there,
      // among whatever else uses it. The store refuses every call instead (counted, logged by the cache).
      if (/DB index is out of range|invalid DB index/i.test(err?.message ?? ''))
        this.refusal = unavailable(
          `redis: the server refused the database in the URL (${err.message}): it must be below the server's \`databases\` setting (16 by default)`,
        );
    });
    // A connection error is the cause of this outage only: a later one that ends without an error (a clean close) must not show it.
    this.client.on('ready', () => (this.lastError = undefined));
    if (o.onReady) this.client.on('ready', o.onReady);
    // SET_TAGGED and BEGIN_CHUNKED are sent as EVAL, not EVALSHA: a server that lacks a script
    // (restarted, a promoted replica, another cluster master) answers EVALSHA with NOSCRIPT and
    // ioredis then resends it as EVAL, after commands called later. A write resent after an
    // invalidation called after it would survive that invalidation. The others may be late safely.
    this.client.defineCommand('hrAddChunk', { numberOfKeys: 1, lua: ADD_CHUNK });
    this.client.defineCommand('hrDetachTag', { numberOfKeys: 3, lua: DETACH_TAG });
    this.client.defineCommand('hrDrainTag', { numberOfKeys: 1, lua: DRAIN_TAG });
    this.client.defineCommand('hrGetEntry', { lua: GET_ENTRY });
    this.client.defineCommand('hrCommitChunked', { lua: COMMIT_CHUNKED });
    this.client.defineCommand('hrDeleteEntry', { numberOfKeys: 2, lua: DELETE_ENTRY });
    this.client.defineCommand('hrDeleteIfChunks', { numberOfKeys: 2, lua: DELETE_IF_CHUNKS });
    this.scripts = this.client as unknown as Scripts;
  }

  private vkey(key: string): string {
    return `${this.prefix}v:${key}`;
  }

  /** Pending sets: chunked writes in flight for a key or a tag (see redis-scripts.ts). */
  private pkey(key: string): string {
    return `${this.prefix}pk:${key}`;
  }

  private ptag(tag: string): string {
    return `${this.prefix}pt:${tag}`;
  }

  /** Bumped by clear(); never deleted by it. */
  private get epochKey(): string {
    return `${this.prefix}epoch`;
  }

  /** Waits for the first connection (see top); a call made after that never waits. */
  private async firstConnection(): Promise<void> {
    if (this.waiting >= MAX_WAITING) throw unavailable(`redis: ${MAX_WAITING} calls are already waiting for the first connection`);
    this.waiting++;
    try {
      await this.connecting;
    } finally {
      this.waiting--;
    }
    if (this.client.status !== 'ready')
      throw unavailable(
        `redis: not connected within ${this.connectWait} ms of start (status ${this.client.status}${lastErrorOf(this.lastError)})`,
      );
  }

  /**
   * One operation: within the cap and the deadline (Gate), after the first connection (when one
   * is being made); failures raised with store codes. Refused once close() has been called.
   */
  private run<T>(op: () => Promise<T>, source?: Readable): Promise<T> {
    if (this.closing) return closedStoreOp('redis', source);
    const answered = storeOp(
      'redis',
      () =>
        this.gate.run(async () => {
          if (this.connecting) await this.firstConnection();
          if (this.refusal) throw this.refusal;
          // ioredis would refuse it with "Stream isn't writeable and enableOfflineQueue options is
          // false", which says nothing of why: the connection's own last error does (ECONNREFUSED, WRONGPASS).
          if (this.client.status !== 'ready')
            throw unavailable(`redis: not connected (status ${this.client.status}${lastErrorOf(this.lastError)})`);
          return op();
        }),
      source,
    );
    this.inFlight.add(answered);
    const forget = (): void => void this.inFlight.delete(answered);
    answered.then(forget, forget);
    return answered;
  }

  private tkeys(tags: string[]): string[] {
    return tags.map((t) => `${this.prefix}t:${t}`);
  }

  /**
   * The value key's reply: a frame, a chunked value's {meta, chunks}, or null. Something no write
   * makes (a string longer than any frame, another type) is not read: counted corrupt, deleted, null.
   */
  private async entry(key: string): Promise<Exclude<Reply, number>> {
    const r = await this.scripts.hrGetEntryBuffer(1, this.vkey(key), MAX_FRAME_BYTES);
    if (typeof r !== 'number') return r;
    await this.dropCorrupt(key);
    return null;
  }

  /** Counts a corrupt value and deletes its key (a failed delete is left for the next reader). */
  private async dropCorrupt(key: string): Promise<void> {
    this.corrupt++;
    await this.client.del(this.vkey(key)).catch(() => undefined);
  }

  get(key: string): Promise<Encoded | undefined> {
    return this.run(async () => {
      const r = await this.entry(key);
      if (r === null) return undefined;
      if (Buffer.isBuffer(r)) return this.frameOrDrop(key, r);
      const found = this.readChunked(key, r);
      if (found === undefined) return undefined;
      if (found.size > MAX_GET_BYTES) {
        found.stream.destroy();
        throw new HeadroomError(
          'HEADROOM_CACHE_ENTRY_TOO_LARGE',
          `cached value of ${found.size} bytes is too large for get(); use getStream()`,
        );
      }
      const parts: Buffer[] = [];
      try {
        for await (const chunk of found.stream) parts.push(chunk as Buffer);
      } catch (err) {
        if (err instanceof CorruptError) return undefined; // counted and dropped by readChunked
        throw err;
      }
      return {
        type: found.type,
        expiresAt: found.expiresAt,
        staleUntil: found.staleUntil,
        tags: found.tags,
        payload: Buffer.concat(parts),
      };
    });
  }

  /** A whole frame, or a miss when it is corrupt (then counted and deleted). */
  private async frameOrDrop(key: string, r: Buffer): Promise<Encoded | undefined> {
    try {
      return decodeFrame(key, r);
    } catch (err) {
      if (!(err instanceof CorruptError)) throw err;
      await this.dropCorrupt(key);
      return undefined;
    }
  }

  set(key: string, entry: Encoded): Promise<void> {
    return this.run(async () => {
      const px = ttlOf(entry);
      if (px < 0) return;
      if (entry.payload.length <= this.chunkSize) {
        const keys = [this.vkey(key), ...this.tkeys(entry.tags)];
        this.replaced(await this.client.eval(SET_TAGGED, keys.length, ...keys, encodeFrame(key, entry), px, key, CHUNK_LINGER));
        return;
      }
      await this.writeStream(key, Readable.from([entry.payload]), entry, entry.payload.length);
    });
  }

  setStream(key: string, readable: Readable, meta: Meta, size?: number): Promise<number> {
    // In `sources` while the write reads it. Refused before it began (closed, maxPending, no
    // connection), the source is left as it is.
    const written = this.run(() => {
      this.sources.add(readable);
      return this.writeStream(key, readable, meta, size).finally(() => this.sources.delete(readable));
    }, readable);
    // Answered at its deadline while still reading (a stalled source): the write is given up, so
    // that it does not hold its place under maxPending for as long as the source stalls.
    written.catch(() => {
      if (this.sources.delete(readable)) readable.destroy();
    });
    return written;
  }

  private async writeStream(key: string, readable: Readable, meta: Meta, size: number | undefined): Promise<number> {
    const tmp = `${this.prefix}c:${randomBytes(8).toString('hex')}`;
    // Sent before anything else (commands run in call order): an invalidation called after this
    // one stops the write (see redis-scripts.ts).
    const pending = [this.pkey(key), ...meta.tags.map((t) => this.ptag(t))];
    const begun = this.client.eval(BEGIN_CHUNKED, 2 + pending.length, tmp, this.epochKey, ...pending, TEMP_TTL);
    let parts: Buffer[] = [];
    let partBytes = 0;
    let index = 0;
    let total = 0;
    let crc = 0;
    // Once stopped, the rest of the stream is still read (the caller's copy for L1 needs it) but not sent.
    let stopped = false;
    const flush = async (): Promise<void> => {
      if (partBytes === 0) return;
      const chunk = Buffer.concat(parts, partBytes);
      parts = [];
      partBytes = 0;
      if (!stopped) stopped = (await this.scripts.hrAddChunk(tmp, String(index++), chunk)) === 0;
    };
    try {
      await begun;
      for await (const c of readable) {
        const b = toBuffer(c);
        total += b.length;
        if (size !== undefined && total > size)
          throw new HeadroomError('HEADROOM_CACHE_STREAM_SIZE_MISMATCH', `stream for ${key} exceeded its declared size ${size}`);
        crc = crc32(b, crc);
        // Split so no chunk exceeds chunkSize (bounded memory per writer).
        for (let off = 0; off < b.length;) {
          const take = Math.min(b.length - off, this.chunkSize - partBytes);
          parts.push(b.subarray(off, off + take));
          partBytes += take;
          off += take;
          if (partBytes === this.chunkSize) await flush();
        }
      }
      await flush();
      if (size !== undefined && total !== size)
        throw new HeadroomError('HEADROOM_CACHE_STREAM_SIZE_MISMATCH', `stream for ${key} ended at ${total} bytes, declared ${size}`);
      const px = ttlOf(meta);
      const chunkInfo = Buffer.alloc(4);
      chunkInfo.writeUInt32BE(this.chunkSize);
      const m = Buffer.concat([encodeHeader(key, meta, total, crc, FLAG_CHUNKED), chunkInfo]);
      if (stopped) return total;
      if (px < 0) {
        await this.client.del(tmp); // already expired: not stored
        return total;
      }
      // Returns 0 without storing when an invalidation stopped the write: not an error.
      const keys = [tmp, this.vkey(key), this.epochKey, ...pending, ...this.tkeys(meta.tags)];
      this.replaced(await this.scripts.hrCommitChunked(keys.length, ...keys, px, key, m, CHUNK_LINGER, pending.length));
      return total;
    } catch (err) {
      await begun.catch(() => undefined);
      await this.client.del(tmp).catch(() => undefined);
      throw writeEndedBy(err, this.closing !== undefined);
    }
  }

  getStream(key: string): Promise<StoreStreamEntry | undefined> {
    return this.run(async () => {
      const r = await this.entry(key);
      if (r === null) return undefined;
      if (!Buffer.isBuffer(r)) return this.readChunked(key, r);
      const e = await this.frameOrDrop(key, r);
      if (e === undefined) return undefined;
      return {
        stream: Readable.from([e.payload]),
        size: e.payload.length,
        type: e.type,
        expiresAt: e.expiresAt,
        staleUntil: e.staleUntil,
        tags: e.tags,
      };
    });
  }

  /** The chunk stream of a chunked value; corrupt data is counted and dropped (only while still current). */
  private readChunked(key: string, [meta, chunkKey]: [Buffer | null, Buffer | null]): StoreStreamEntry | undefined {
    const vkey = this.vkey(key);
    const ckey = chunkKey?.toString('utf8') ?? '';
    const gate = this.gate;
    const client = this.client;
    // Deletes only while the value still points at these chunks: a newer write is never deleted.
    const onCorrupt = (): void => {
      this.corrupt++;
      // Within the cap like every command (refused when full: the next reader retries it).
      void gate.run(() => this.scripts.hrDeleteIfChunks(vkey, ckey)).catch(() => undefined);
    };
    let h: Header;
    try {
      if (meta === null || chunkKey === null) throw new CorruptError('a chunked value without meta or chunks');
      h = decodeHeader(meta);
    } catch {
      onCorrupt();
      return undefined;
    }
    const chunkSize = meta.length >= h.headerLength + 4 ? meta.readUInt32BE(h.headerLength) : 0;
    if (h.key !== key || (h.flags & FLAG_CHUNKED) === 0 || chunkSize === 0) {
      onCorrupt();
      return undefined;
    }
    const count = Math.ceil(h.length / chunkSize);
    async function* chunks(): AsyncGenerator<Buffer> {
      let crc = 0;
      let total = 0;
      for (let i = 0; i < count; i++) {
        const c = await gate
          .run(() => client.hgetBuffer(ckey, String(i)))
          .catch((err: unknown) => {
            // Another tool made the chunk hash another type: the value is corrupt, not the store down.
            if (/^WRONGTYPE/.test((err as Error | undefined)?.message ?? '')) {
              onCorrupt();
              return Promise.reject(new CorruptError(`the chunks of ${key} are not a hash`));
            }
            return Promise.reject(storeFailure('redis', err));
          });
        if (c === null) {
          onCorrupt();
          throw new CorruptError(`chunk ${i} of ${key} is missing`);
        }
        if (c.length > chunkSize) {
          onCorrupt();
          throw new CorruptError(`chunk ${i} of ${key} is longer than its chunk size`);
        }
        crc = crc32(c, crc);
        total += c.length;
        yield c;
      }
      if (crc !== h.crc || total !== h.length) {
        onCorrupt();
        throw new CorruptError(`checksum mismatch in ${key}`);
      }
    }
    return {
      stream: Readable.from(chunks(), { objectMode: false }),
      size: h.length,
      type: h.type,
      expiresAt: h.expiresAt,
      staleUntil: h.staleUntil,
      tags: h.tags,
    };
  }

  delete(key: string): Promise<void> {
    return this.run(async () => {
      await this.scripts.hrDeleteEntry(this.vkey(key), this.pkey(key), CHUNK_LINGER);
    });
  }

  /** Detaches the tag set, then deletes its members a batch per call (no long-running script). */
  invalidateByTag(tag: string): Promise<void> {
    return this.run(async () => {
      const detached = `${this.prefix}ti:${randomBytes(8).toString('hex')}`;
      const tagKey = this.tkeys([tag])[0]!;
      const found = await this.scripts.hrDetachTag(tagKey, detached, this.ptag(tag));
      if (typeof found === 'string') this.replaced([tagKey, found]);
      if (found !== 1) return;
      while ((await this.scripts.hrDrainTag(detached, `${this.prefix}v:`, INVALIDATE_BATCH, CHUNK_LINGER)) > 0);
    });
  }

  /**
   * Logs the tag keys of another type a script replaced (a flat list {key, type, …}; see
   * redis-scripts.ts): another tool writes to the cache's keys. Once per replacement: the key is a
   * tag set again afterwards. A plain set (an older headroom's tags) is converted silently.
   */
  private replaced(reply: unknown): void {
    if (!Array.isArray(reply)) return;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const key = String(reply[i]);
      const type = String(reply[i + 1]);
      this.onWarn?.(
        { key, type },
        `cache: redis key ${key} (a tag set) held a ${type}, not a sorted set; it was replaced with a new tag set (the ${type} had no members to keep). Something else writes to the cache's keys: give it another key or the cache another prefix.`,
      );
    }
  }

  /** Bumps the epoch first (chunked writes begun before it are refused), then deletes every key but it. */
  async clear(): Promise<void> {
    const epoch = this.epochKey;
    const nodes = await this.run(async () => {
      // EVAL, not EVALSHA (see the constructor): the bump must run before the commands called after it.
      const bumped: unknown = await this.client.eval(BUMP_EPOCH, 1, epoch, String(randomInt(2 ** 47, 2 ** 48 - 1)));
      if (Array.isArray(bumped))
        this.onWarn?.(
          { key: epoch, error: String(bumped[1]) },
          `cache: redis key ${epoch} (the clear epoch) held a value INCR cannot bump (${String(bumped[1])}); it was replaced with a fresh integer (writes in flight are refused as by any clear). Something else writes to the cache's keys: give it another key or the cache another prefix.`,
        );
      // On a cluster, the master that holds the slot has every key; each master is scanned so
      // that a slot being moved between two is covered too.
      return this.scanNodes();
    });
    // One call (and deadline) per batch: the scan's length grows with the whole database (another
    // app's millions of keys), not with the cache, and one deadline for all of it never passed.
    for (const node of nodes) {
      let cursor = '0';
      do {
        cursor = await this.run(async () => {
          const [next, found] = await node.scan(cursor, 'MATCH', `${globEscape(this.prefix)}*`, 'COUNT', 500);
          // Only the cache's own kinds of key: another cache's prefix may start with this one
          // (shop and shop-admin), and nothing else in the database is ours to delete.
          const keys = found.filter((k) => k !== epoch && OWN_KEY.test(k.slice(this.prefix.length)));
          if (keys.length > 0) await this.client.unlink(...keys);
          return next;
        });
      } while (cursor !== '0');
    }
  }

  /** Where SCAN runs: the server, or each master of a cluster. */
  private scanNodes(): RedisClient[] {
    return this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
  }

  /**
   * Redis expires keys itself; this only counts this cache's values for stats (not the whole
   * database): a bounded SCAN slice per sweep, keyCount updated when a full pass ends. Approximate
   * (SCAN may return a key twice, and keys come and go during a pass).
   */
  sweep(): Promise<void> {
    return this.run(async () => {
      const match = `${globEscape(this.prefix)}v:*`;
      // A cluster keeps the cache in one slot, so on one master: the one that has it now.
      const node = this.slotOwner() ?? this.client;
      for (let i = 0; i < SWEEP_SCAN_CALLS; i++) {
        const [next, keys] = await node.scan(this.countCursor, 'MATCH', match, 'COUNT', 1000);
        this.counted += keys.length;
        this.countCursor = next;
        if (next === '0') {
          this.keyCount = this.counted;
          this.counted = 0;
          return;
        }
      }
    });
  }

  stats(): StoreStats {
    return {
      bytes: 0,
      entries: 0,
      errors: this.errors,
      corrupt: this.corrupt,
      evictions: 0,
      connected: this.client.status === 'ready',
      keyCount: this.keyCount,
      redis: { topology: this.topology, nodes: this.nodes(), ...this.gate.stats() },
    };
  }

  /** Cluster: the connection to the master holding this cache's slot, once known. */
  private slotOwner(): RedisClient | undefined {
    if (!(this.client instanceof Cluster) || this.slot === undefined) return undefined;
    const owner = this.client.slots[this.slot]?.[0];
    return this.client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  }

  /** The server(s) this store talks to: the server, the current master, or the cluster master holding the cache. */
  private nodes(): string[] {
    if (this.client instanceof Cluster && this.slot !== undefined) {
      const owner = this.client.slots[this.slot]?.[0];
      if (owner !== undefined) return [owner];
    }
    return this.client.status === 'ready' ? clientNodes(this.client) : [];
  }

  /**
   * Refuses new operations, waits for the ones in flight to be answered (by commandTimeout at the
   * latest; one waiting for the first connection is answered at once), then quits the connection
   * (QUIT waited for quitTimeout at most: a hung server never answers it; then it is dropped).
   * A second call returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const source of this.sources) source.destroy();
      this.stopConnecting();
      await Promise.allSettled(this.inFlight);
      await quitOrDisconnect(this.client, this.quitTimeout);
    })();
    return this.closing;
  }
}

const unavailable = (message: string): HeadroomError => new HeadroomError('HEADROOM_CACHE_STORE_UNAVAILABLE', message);

/** What follows the prefix in the cache's own keys (values, chunk registers, tag sets, chunks, detached tags; generations). */
const OWN_KEY = /^(?:v|pk|pt|t|c|ti|\{gen\}):/;

/** A literal for SCAN MATCH: glob characters in the prefix match only themselves. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** PX for Redis: 0 = no expiry, -1 = already gone (do not write). */
function ttlOf(meta: Meta): number {
  if (!Number.isFinite(meta.staleUntil)) return 0;
  const ms = Math.ceil(meta.staleUntil - Date.now());
  return ms > 0 ? ms : -1;
}
