// The arguments of each cache call, checked before anything is stored or any tier is asked: a
// caller's mistake is the caller's error (HEADROOM_CONFIG_INVALID naming the call and the option),
// never mistaken for a store failure (which would open L2's breaker for every caller) and never
// stored in a shape that cannot be found again (tags: 'users' as five one-letter tags).
import { HeadroomError } from '../errors.js';
import { kindOf } from '../options/spec.js';
import { isWellFormed } from './codec.js';
import { suggestOption } from '../options/suggest.js';
import type { GetOrSetOptions, SetOptions } from './types.js';

/** The longest finite TTL or grace: 100 years (Redis refuses an expiry past 2^63 ms; Infinity means never). */
export const MAX_DURATION_MS = 100 * 365.25 * 24 * 3_600_000;

const SET_KEYS = ['ttl', 'tags', 'grace', 'transfer'];
const GET_OR_SET_KEYS = [...SET_KEYS, 'timeout'];
const SET_STREAM_KEYS = [...SET_KEYS, 'size'];

const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' ? String(v) : kindOf(v));

function refuse(call: string, key: string, message: string): never {
  throw new HeadroomError('HEADROOM_CONFIG_INVALID', `cache.${call}(${JSON.stringify(key)}): ${message}`);
}

/** A lone surrogate as the refusal names it: its position and code unit. */
function loneSurrogate(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else if (c >= 0xd800 && c <= 0xdfff) return `a lone surrogate \\u${c.toString(16).toUpperCase()} at index ${i}`;
  }
  return 'a lone surrogate';
}

/** Why a key or tag cannot be stored: it is not well-formed UTF-16 (see isWellFormed). */
const illFormed = (what: string, s: string): string =>
  `the ${what} is not well-formed UTF-16 (${loneSurrogate(s)}): L2 stores it as UTF-8, where that becomes U+FFFD and another ${what}`;

/** A cache key: any well-formed string. */
export function checkKey(call: string, key: unknown): asserts key is string {
  if (typeof key !== 'string')
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `cache.${call}: the key must be a string, got ${kindOf(key)}`);
  if (!isWellFormed(key)) refuse(call, key, illFormed('key', key));
}

/** invalidateByTag's tag: a non-empty well-formed string. */
export function checkTag(tag: unknown): asserts tag is string {
  if (typeof tag !== 'string' || tag === '')
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `cache.invalidateByTag: the tag must be a non-empty string, got ${JSON.stringify(tag) ?? typeof tag}`,
    );
  if (!isWellFormed(tag))
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `cache.invalidateByTag(${JSON.stringify(tag)}): ${illFormed('tag', tag)}`);
}

/** A positive number of ms up to 100 years, or Infinity; `zero` also takes 0. */
function checkMs(call: string, key: string, name: string, v: unknown, zero = false): void {
  if (typeof v === 'number' && (v === Infinity || (v <= MAX_DURATION_MS && (v > 0 || (zero && v === 0))))) return;
  refuse(call, key, `${name}=${shown(v)}: must be a number of milliseconds ${zero ? 'from 0' : 'above 0'} up to 100 years, or Infinity`);
}

function checkOptions(call: string, key: string, o: unknown, known: readonly string[]): void {
  if (o === undefined) return;
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    refuse(call, key, `options must be an object (${known.join(', ')}), got ${kindOf(o)}`);
  const opts = o as Record<string, unknown>;
  for (const name in opts) {
    if (known.includes(name)) continue;
    const hint = suggestOption(name, known);
    refuse(call, key, `unknown option ${name}${hint ? ` (did you mean ${hint}?)` : ''}; accepted: ${known.join(', ')}`);
  }
  if (opts.ttl !== undefined) checkMs(call, key, 'ttl', opts.ttl);
  if (opts.grace !== undefined) checkMs(call, key, 'grace', opts.grace, true);
  if (opts.tags !== undefined) {
    const tags = opts.tags;
    if (!Array.isArray(tags)) refuse(call, key, `tags must be an array of non-empty strings, got ${kindOf(tags)}`);
    for (const t of tags as unknown[])
      if (typeof t !== 'string' || t === '')
        refuse(call, key, `tags must be non-empty strings, got ${shown(t)} (a tag is what invalidateByTag() is called with)`);
      else if (!isWellFormed(t)) refuse(call, key, `tags: ${illFormed('tag', t)}`);
  }
  if (opts.transfer !== undefined && typeof opts.transfer !== 'boolean')
    refuse(call, key, `transfer must be true or false, got ${shown(opts.transfer)}`);
}

export function checkSet(key: unknown, o: SetOptions | undefined): asserts key is string {
  checkKey('set', key);
  checkOptions('set', key, o, SET_KEYS);
}

/** createL1()'s set(): the tiered cache's rules for the options it takes (ttl, tags). */
export function checkL1Set(key: unknown, o: { ttl?: number; tags?: string[] } | undefined): asserts key is string {
  checkKey('set', key);
  checkOptions('set', key, o, ['ttl', 'tags']);
}

export function checkGetOrSet(key: unknown, loader: unknown, o: GetOrSetOptions | undefined): asserts key is string {
  checkKey('getOrSet', key);
  if (typeof loader !== 'function') refuse('getOrSet', key, `the loader must be a function, got ${kindOf(loader)}`);
  checkOptions('getOrSet', key, o, GET_OR_SET_KEYS);
  if (o?.timeout !== undefined && (typeof o.timeout !== 'number' || !(o.timeout > 0 && o.timeout <= 2 ** 31 - 1)))
    refuse(
      'getOrSet',
      key,
      `timeout=${shown(o.timeout)}: must be a number of milliseconds above 0 and at most 2147483647 (about 24.8 days)`,
    );
}

export function checkSetStream(key: unknown, readable: unknown, o: (SetOptions & { size?: number }) | undefined): asserts key is string {
  checkKey('setStream', key);
  const r = readable as { on?: unknown; pipe?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.on !== 'function' || typeof r.pipe !== 'function')
    refuse('setStream', key, `the value must be a Readable stream, got ${kindOf(readable)}`);
  checkOptions('setStream', key, o, SET_STREAM_KEYS);
  if (o?.size !== undefined && !(Number.isSafeInteger(o.size) && o.size >= 0))
    refuse('setStream', key, `size=${shown(o.size)}: must be the stream's length in bytes (an integer from 0), or left out`);
}
