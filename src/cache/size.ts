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
/**
 * An object with more keys than this, some of them new names, is likely dictionary-mode: a hash
 * table of key, value and details with spare capacity: DICT_SLOTS slots a key beside its name (measured). One
 * of only known names shares its shape and stays fast (JSON.parse and object literals).
 */
const FAST_PROPERTIES = 32;
const DICT_SLOTS = 4;
/** Past this many keys V8 keeps an object as a dictionary whatever its names (measured: 100 fast, 130 not). */
const DICTIONARY_KEYS = 128;
/**
 * A fast-mode object's property names live once in V8 (internalised, in its hidden class), shared by
 * every object of that shape: counting them per value would overcount the usual records several
 * times. A name not seen before is counted with NEW_NAME (its descriptor) and its shape with
 * NEW_SHAPE (hidden class, descriptor array, transition): values keyed by ids (`{ [userId]: … }`)
 * have a name and a shape each. Measured (--expose-gc): `{ user1000000: 1 }` ≈ 220 bytes a value,
 * `{ a1: 1, b1: 1, c1: 1 }` ≈ 310, `{ id: 1 }` ≈ 32.
 */
const NEW_SHAPE = 150;
const NEW_NAME = 24;
/** Names remembered as seen (up to this many, then forgotten at once) and the longest remembered. */
const KNOWN_NAMES_CAP = 2048;
const KNOWN_NAME_LENGTH = 64;
const knownNames = new Set<string>();

/** Whether `name` was seen as a property name before (a long name is always counted as new). */
function known(name: string): boolean {
  if (name.length > KNOWN_NAME_LENGTH) return false;
  if (knownNames.has(name)) return true;
  if (knownNames.size >= KNOWN_NAMES_CAP) knownNames.clear();
  knownNames.add(name);
  return false;
}
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
      let n = OBJECT_HEADER + SLOT * keys.length;
      let newNames = 0;
      for (const k of keys) {
        if (!known(k)) {
          n += stringSize(k) + NEW_NAME;
          newNames++;
        }
        n += jsonSize((v as Record<string, unknown>)[k], depth + 1);
      }
      // A dictionary (a hash table of key, value and details per name) belongs to its object, names
      // shared or not: past DICTIONARY_KEYS always; past FAST_PROPERTIES when names are its own.
      if (keys.length > DICTIONARY_KEYS || (newNames > 0 && keys.length > FAST_PROPERTIES)) return n + DICT_SLOTS * SLOT * keys.length;
      return newNames === 0 ? n : n + NEW_SHAPE;
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
