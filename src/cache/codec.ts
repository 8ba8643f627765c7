// Value encoding shared by every L2 store: a value becomes (type, payload bytes) and a small
// frame header carries what a reader needs to trust it (magic, version, expiry, length, CRC-32,
// key, tags). Binary stays binary: bytes are never JSON- or base64-encoded.
import { HeadroomError } from '../errors.js';
import { crc32 } from './crc32.js';

export const ValueType = { Json: 0, String: 1, Binary: 2 } as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

export interface Meta {
  type: ValueType;
  /** Absolute ms; Infinity = never. */
  expiresAt: number;
  /** Kept (and served by getOrSet with grace) until this absolute ms; >= expiresAt. */
  staleUntil: number;
  tags: string[];
}

export interface Encoded extends Meta {
  payload: Buffer;
}

/** A value normalised for L1 (owned by the cache) plus its bytes for L2. */
export interface Prepared {
  type: ValueType;
  payload: Buffer;
  l1Value: unknown;
}

/**
 * Whether a string is well-formed UTF-16 (no lone surrogate). L2 stores keys and tags as UTF-8, which
 * turns every lone surrogate into U+FFFD: '\uD800' and '\uFFFD' would be one file, one Redis key.
 * (String.prototype.isWellFormed is in Node 20+, not yet in TypeScript's ES2023 lib.)
 */
export const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** Copies bytes into a Buffer that owns an exactly sized ArrayBuffer (no pool slab, no parent retained). */
export function ownBytes(src: Uint8Array): Buffer {
  // Not zero-filled first (every byte is overwritten): 2-3× cheaper for large values.
  const out = Buffer.allocUnsafeSlow(src.byteLength);
  out.set(src);
  return out;
}

/** A stream chunk as a Buffer: strings as UTF-8, Uint8Array views without a copy; anything else is refused. */
export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new HeadroomError(
    'HEADROOM_CACHE_VALUE_INVALID',
    `stream chunks must be bytes or strings, got ${chunk === null ? 'null' : typeof chunk}`,
  );
}

/** Whether a byte view spans its whole ArrayBuffer (so keeping it retains nothing else). */
const spansBuffer = (v: Uint8Array): boolean => v.byteOffset === 0 && v.byteLength === v.buffer.byteLength;

/** `transfer`: binary values that span their own ArrayBuffer are kept as they are, not copied. */
export function prepare(value: unknown, transfer = false): Prepared {
  // Other binary shapes (an ArrayBuffer from fetch().arrayBuffer(), a DataView, a Float64Array) are
  // their bytes too, never JSON (which made an ArrayBuffer `{}`); they come back as a Buffer.
  if (!isBytes(value) && (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer || ArrayBuffer.isView(value))) {
    const view = ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
    const payload = ownBytes(view);
    return { type: ValueType.Binary, payload, l1Value: payload };
  }
  if (isBytes(value)) {
    const payload = transfer && spansBuffer(value) && !(value.buffer instanceof SharedArrayBuffer) ? toBuffer(value) : ownBytes(value);
    return { type: ValueType.Binary, payload, l1Value: payload };
  }
  // A string with a lone surrogate is not UTF-8 (it would come back with U+FFFD in its place):
  // it goes through JSON, which escapes lone surrogates ("\ud83d"), and comes back exactly.
  if (typeof value === 'string' && isWellFormed(value)) {
    const payload = Buffer.from(value, 'utf8');
    // Decoding gives a flat string the cache owns (a sliced/cons string could retain its parent).
    return { type: ValueType.String, payload, l1Value: payload.toString('utf8') };
  }
  if (value === undefined) throw new HeadroomError('HEADROOM_CACHE_VALUE_INVALID', 'undefined cannot be cached (it means "miss")');
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new HeadroomError('HEADROOM_CACHE_VALUE_INVALID', `value is not JSON-serialisable: ${(err as Error).message}`, { cause: err });
  }
  if (json === undefined) {
    // JSON.stringify gives undefined for a function or symbol, and for an object whose toJSON() returns undefined.
    const why = typeof value === 'object' ? 'an object whose toJSON() returned undefined' : `a ${typeof value}`;
    throw new HeadroomError('HEADROOM_CACHE_VALUE_INVALID', `${why} is not JSON-serialisable`);
  }
  // L1 holds a fresh parse: identical to what L2 returns, and immune to later mutation by the caller.
  return { type: ValueType.Json, payload: Buffer.from(json, 'utf8'), l1Value: JSON.parse(json) };
}

export function decode(type: ValueType, payload: Buffer): unknown {
  if (type === ValueType.Binary) return ownBytes(payload);
  const text = payload.toString('utf8');
  return type === ValueType.String ? text : JSON.parse(text);
}

// Frame: magic "HRC" + version, type, flags, 2 reserved, expiresAt f64, staleUntil f64,
// payload length f64, crc32 u32, key length u32, tags length u32, key, tags (JSON), payload.
const MAGIC = 0x48524301;
export const FIXED_HEADER = 44;
export const FLAG_CHUNKED = 1;

export interface Header extends Meta {
  flags: number;
  length: number;
  crc: number;
  key: string;
  headerLength: number;
}

const enc = (n: number): number => (Number.isFinite(n) ? n : 0);
const dec = (n: number): number => (n === 0 ? Infinity : n);

export function encodeHeader(key: string, meta: Meta, length: number, crc: number, flags = 0): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const tagBytes = Buffer.from(meta.tags.length ? JSON.stringify(meta.tags) : '', 'utf8');
  const h = Buffer.allocUnsafe(FIXED_HEADER + keyBytes.length + tagBytes.length);
  h.writeUInt32BE(MAGIC, 0);
  h.writeUInt8(meta.type, 4);
  h.writeUInt8(flags, 5);
  h.writeUInt16BE(0, 6);
  h.writeDoubleBE(enc(meta.expiresAt), 8);
  h.writeDoubleBE(enc(meta.staleUntil), 16);
  h.writeDoubleBE(length, 24);
  h.writeUInt32BE(crc >>> 0, 32);
  h.writeUInt32BE(keyBytes.length, 36);
  h.writeUInt32BE(tagBytes.length, 40);
  keyBytes.copy(h, FIXED_HEADER);
  tagBytes.copy(h, FIXED_HEADER + keyBytes.length);
  return h;
}

/** Total header length once the fixed part is readable, or undefined when it is not a frame. */
export function headerLength(buf: Buffer): number | undefined {
  if (buf.length < FIXED_HEADER || buf.readUInt32BE(0) !== MAGIC) return undefined;
  return FIXED_HEADER + buf.readUInt32BE(36) + buf.readUInt32BE(40);
}

/** Parses a header; throws CorruptError on anything that does not add up. */
export function decodeHeader(buf: Buffer): Header {
  const total = headerLength(buf);
  if (total === undefined) throw new CorruptError('bad magic or short header');
  if (buf.length < total) throw new CorruptError('truncated header');
  const type = buf.readUInt8(4) as ValueType;
  if (type > ValueType.Binary) throw new CorruptError(`unknown type ${type}`);
  const length = buf.readDoubleBE(24);
  if (!Number.isSafeInteger(length) || length < 0) throw new CorruptError('bad length');
  const keyLen = buf.readUInt32BE(36);
  const tagLen = buf.readUInt32BE(40);
  let tags: string[] = [];
  if (tagLen > 0) {
    try {
      tags = JSON.parse(buf.toString('utf8', FIXED_HEADER + keyLen, FIXED_HEADER + keyLen + tagLen)) as string[];
    } catch {
      throw new CorruptError('bad tags');
    }
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new CorruptError('bad tags');
  }
  return {
    type,
    flags: buf.readUInt8(5),
    expiresAt: dec(buf.readDoubleBE(8)),
    staleUntil: dec(buf.readDoubleBE(16)),
    length,
    crc: buf.readUInt32BE(32),
    key: buf.toString('utf8', FIXED_HEADER, FIXED_HEADER + keyLen),
    tags,
    headerLength: total,
  };
}

/** Header + payload in one Buffer (small values). */
export function encodeFrame(key: string, e: Encoded): Buffer {
  return Buffer.concat([encodeHeader(key, e, e.payload.length, crc32(e.payload)), e.payload]);
}

/** Reads a whole frame; throws CorruptError on a wrong key, length or checksum. */
export function decodeFrame(key: string, buf: Buffer): Encoded {
  const h = decodeHeader(buf);
  if (h.key !== key) throw new CorruptError('key mismatch');
  if (buf.length !== h.headerLength + h.length) throw new CorruptError(`length ${buf.length - h.headerLength} != ${h.length}`);
  const payload = buf.subarray(h.headerLength);
  if (crc32(payload) !== h.crc) throw new CorruptError('checksum mismatch');
  return { type: h.type, expiresAt: h.expiresAt, staleUntil: h.staleUntil, tags: h.tags, payload };
}

/** Stored bytes that do not add up (HEADROOM_CACHE_STORE_CORRUPT): stores count and drop them. */
export class CorruptError extends HeadroomError {
  constructor(message: string) {
    super('HEADROOM_CACHE_STORE_CORRUPT', message);
    this.name = 'CorruptError';
  }
}
