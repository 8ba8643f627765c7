// Where an options object sits, for messages. A part that hands a nested object on to another
// part (createHeadroom's `proxy: {…}` to createProxy) marks the copy it passes with `nestedOptions`,
// so the receiving part checks it (its own specs, its own "did you mean") but names the option as
// the user wrote it: `createHeadroom: proxy.upstreamUrl is required`, not `createProxy: upstreamUrl …`.
// The mark is a non-enumerable symbol property: spreading or JSON-serialising the options drops it,
// and it never counts as an option.
import { HeadroomError } from '../errors.js';

const PLACE = Symbol.for('headroom-memory.options-place');

interface Place {
  factory: string;
  path: string;
}

/** The factory the user called and the prefix of every option name in `given` (`''` or `'proxy.'`). */
export interface OptionsPlace {
  factory: string;
  prefix: string;
}

/** Where `given` sits: as marked by the part that handed it on, else the top level of `factory`. */
export function optionsPlace(factory: string, given: unknown): OptionsPlace {
  const place = typeof given === 'object' && given !== null ? (given as { [PLACE]?: Place })[PLACE] : undefined;
  return place ? { factory: place.factory, prefix: place.path ? `${place.path}.` : '' } : { factory, prefix: '' };
}

/**
 * A copy of `options` marked as the option `key` of `parent` (the options object `parentFactory`
 * received; itself possibly nested): the receiving part's messages then name the parent's factory
 * and `key.` before each option. With `key` '' the copy stands for `parent` itself (an adapter
 * handing the user's object, less its own keys, to createHeadroom).
 */
export function nestedOptions<T extends object>(options: T | undefined, parentFactory: string, parent: unknown, key: string): T {
  const outer = optionsPlace(parentFactory, parent);
  const path = `${outer.prefix}${key}`.replace(/\.$/, '');
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options)))
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', `${outer.factory}: ${path || 'options'} must be an options object`);
  const copy = { ...(options ?? {}) } as T;
  Object.defineProperty(copy, PLACE, { value: { factory: outer.factory, path } satisfies Place, enumerable: false });
  return copy;
}
