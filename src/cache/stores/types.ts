// The contract every L2 store meets (disk, redis); test/cache/store-contract.ts runs one suite
// against each. Stores deal in encoded values (codec.ts) and return stale entries (up to
// staleUntil) so the tiered cache can serve them with grace.
import type { Readable } from 'node:stream';
import { HeadroomError, isHeadroomError } from '../../errors.js';
import type { Encoded, Meta } from '../codec.js';

/**
 * A value this store cannot hold (larger than its cap). Not a failure of the store, and not the
 * caller's fault: the tiered cache treats it as "not stored in L2". The store has dropped any
 * older value under the key, so the old value cannot come back.
 */
export class NotStoredError extends HeadroomError {
  constructor(message: string) {
    super('HEADROOM_CACHE_ENTRY_TOO_LARGE', message);
  }
}

/** A failure of the store itself (I/O, connection, server) as HEADROOM_CACHE_STORE_UNAVAILABLE; HeadroomErrors keep their code. */
export function storeFailure(kind: 'disk' | 'redis', err: unknown): HeadroomError {
  if (isHeadroomError(err)) return err;
  return new HeadroomError('HEADROOM_CACHE_STORE_UNAVAILABLE', `${kind} L2: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

/**
 * Runs one store operation, raising its failures with store codes (storeFailure). An error of the
 * caller's `source` stream (a write's input) is the caller's: it passes as it is.
 */
export async function storeOp<T>(kind: 'disk' | 'redis', op: () => Promise<T>, source?: Readable): Promise<T> {
  // The source may fail before the store starts reading it (it opens a file or waits for Redis
  // first): without a listener that would be an uncaught error. Reading it then throws the error.
  source?.on('error', ignore);
  try {
    return await op();
  } catch (err) {
    if (source !== undefined && source.errored === err) throw err;
    throw storeFailure(kind, err);
  } finally {
    source?.off('error', ignore);
  }
}

const ignore = (): void => undefined;

/** An operation called on a closed store: refused with the store's code, as storeOp raises failures. */
export function closedStoreOp<T>(kind: 'disk' | 'redis', source?: Readable): Promise<T> {
  return storeOp(kind, () => Promise.reject(new Error('the store is closed')), source);
}

/**
 * Why a streamed write ended: close() destroys the sources of writes in flight (one may have
 * stalled), which ends their reading with a premature close — reported as the store being closed.
 */
export function writeEndedBy(err: unknown, closed: boolean): unknown {
  return closed && (err as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE' ? closedDuringWrite() : err;
}

export const closedDuringWrite = (): Error => new Error('the store was closed during the write');

/**
 * get() loads a value into memory; larger values are refused while reading (a miss for the tiered
 * cache) and must be read with getStream(). 64 MiB.
 */
export const MAX_GET_BYTES = 64 * 1024 ** 2;

export interface StoreStreamEntry extends Meta {
  stream: Readable;
  size: number;
}

export interface StoreStats {
  bytes: number;
  entries: number;
  errors: number;
  corrupt: number;
  evictions: number;
  connected: boolean;
  keyCount: number | null;
  /** Redis only: the topology, the server(s) it talks to, and the bounds on calls in flight. */
  redis?: RedisStats;
}

export interface RedisStats {
  topology: 'single' | 'cluster' | 'sentinel';
  /** host:port of the server, of Sentinel's current master, or of the cluster master that holds the cache's slot. */
  nodes: string[];
  pending: number;
  pendingPeak: number;
  maxPending: number;
  refused: number;
  timedOut: number;
  /** The longest any call waited for Redis's answer or its deadline (commandTimeout), ms. */
  waitPeakMs: number;
}

export interface L2Store {
  readonly kind: 'disk' | 'redis';
  get(key: string): Promise<Encoded | undefined>;
  set(key: string, entry: Encoded): Promise<void>;
  /** Streams the payload; a checksum or length mismatch is reported as a stream error at the end. */
  getStream(key: string): Promise<StoreStreamEntry | undefined>;
  /** Stores a streamed payload; `size`, when given, must match. Returns the byte count. */
  setStream(key: string, readable: Readable, meta: Meta, size?: number): Promise<number>;
  delete(key: string): Promise<void>;
  invalidateByTag(tag: string): Promise<void>;
  clear(): Promise<void>;
  /** Periodic upkeep (expired entries, stats refresh). */
  sweep(): Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
}
