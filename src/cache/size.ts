// What an L1 entry costs in memory as V8 (x64, no pointer compression, as Node ships) holds it.
// The constants were measured with --expose-gc by filling an L1 and dividing heap growth
// (used heap + array buffers) by the entry count; see bench/cache.ts "budget honesty".
import { ValueType } from './codec.js';

/** Map slot + entry object (12 fields, three boxed doubles) measured per entry, excluding key and value. */
export const ENTRY_OVERHEAD = 232;
/** JSArrayBuffer + Buffer (Uint8Array) objects and the backing-store record of one Buffer. */
export const BUFFER_OVERHEAD = 180;
const STRING_HEADER = 16;
const OBJECT_HEADER = 24;
const ARRAY_HEADER = 48;
const SLOT = 8;
const HEAP_NUMBER = 16;
/** Objects with more keys than this are likely dictionary-mode (a hash table of key, value, details). */
const FAST_PROPERTIES = 32;
const MAX_DEPTH = 256;

const align = (n: number): number => (n + 7) & ~7;

/** One-byte strings when all characters are ASCII (cheap native check), else two bytes a char. */
export function stringSize(s: string): number {
  const wide = Buffer.byteLength(s, 'utf8') !== s.length;
  return align(STRING_HEADER + (wide ? 2 * s.length : s.length));
}

function jsonSize(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      return stringSize(v);
    case 'number':
      return Number.isInteger(v) && v <= 0x3fffffff && v >= -0x40000000 ? 0 : HEAP_NUMBER;
    case 'object': {
      if (v === null) return 0;
      if (depth > MAX_DEPTH) return 0;
      if (Array.isArray(v)) {
        let n = ARRAY_HEADER + SLOT * v.length;
        for (const item of v) n += jsonSize(item, depth + 1);
        return n;
      }
      const keys = Object.keys(v);
      const dict = keys.length > FAST_PROPERTIES;
      let n = OBJECT_HEADER + (dict ? 7 * SLOT : SLOT) * keys.length;
      for (const k of keys) {
        if (dict) n += stringSize(k);
        n += jsonSize((v as Record<string, unknown>)[k], depth + 1);
      }
      return n;
    }
    default:
      return 0;
  }
}

/** Per tag of an entry: its slot in the entry's array and its key's slot in the tag's index Set (measured). */
const TAG_SLOT = 40;
/** A tag's index: a Set and its slot in the index Map, held while some entry carries the tag (measured ≈ 180). */
export const TAG_SET_OVERHEAD = 184;

/**
 * Bytes an L1 entry holds: overhead + key + value (values are already normalised by codec.prepare)
 * + its tags (array, strings, index slots) + its generations array. A tag's Set is TAG_SET_OVERHEAD,
 * counted by L1 while the tag is in use.
 */
export function entrySize(key: string, type: ValueType, value: unknown, tags?: readonly string[], gens?: readonly unknown[]): number {
  let n = ENTRY_OVERHEAD + stringSize(key);
  if (type === ValueType.Binary) n += BUFFER_OVERHEAD + (value as Buffer).byteLength;
  else if (type === ValueType.String) n += stringSize(value as string);
  else n += jsonSize(value, 0);
  if (tags !== undefined && tags.length > 0) {
    n += ARRAY_HEADER;
    for (const t of tags) n += TAG_SLOT + stringSize(t);
  }
  if (gens !== undefined) n += ARRAY_HEADER + SLOT * gens.length;
  return n;
}
